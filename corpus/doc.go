// Package corpus is the record format of edged's record and replay: a corpus
// is a JSON Lines file, one Record per line, each holding one request and
// legacy's answer to it as a HAR 1.2 entry, plus the route, time, trace id,
// latencies and what the route's function got from its host calls (fetch
// answers; secrets by name only), so that a new build of the function can be
// run on it later without the network (package replay).
//
// A Writer records off the request path: Write hands a Record to a bounded
// queue and never blocks (a full queue drops the record and counts it); one
// goroutine redacts it (headers and JSON paths, Authorization, Cookie and
// Set-Cookie always), encodes it and appends it to the file, rotating to one
// older file so that both together stay under WriterOptions.MaxBytes.
//
// A Reader reads a corpus back, reporting a corrupt line with its number
// (LineError) and going on with the next one. ImportHAR and ImportGor read
// HAR 1.2 files and GoReplay .gor files into records, which an Encoder writes
// without a queue. docs/record-replay.md describes the format for people.
package corpus
