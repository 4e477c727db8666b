package config

import "github.com/edged/edged/shadow"

// checkJSONPath checks the syntax of a shadow ignore rule: "$" followed by
// steps, each ".name" (letters, digits, '_' and '-'), ".*" (any member),
// "[N]" (an array index) or "[*]" (every element). Examples: "$",
// "$.timestamp", "$.items[*].id", "$.meta.*". Package shadow owns the
// grammar and the matching; checking here keeps a typo from silently
// ignoring nothing.
func checkJSONPath(s string) error { return shadow.ValidatePath(s) }
