package config

import "github.com/edged/edged/router"

// checkJSONPath checks the syntax of a shadow ignore rule: "$" followed by
// steps, each ".name" (letters, digits, '_' and '-'), ".*" (any member),
// "[N]" (an array index) or "[*]" (every element). Examples: "$",
// "$.timestamp", "$.items[*].id", "$.meta.*". The router owns the grammar
// and the matching; checking here keeps a typo from silently ignoring
// nothing.
func checkJSONPath(s string) error { return router.ValidateJSONPath(s) }
