// Package config turns the environment into one validated Config.
//
// It exists because the original Just-In-Time Access read its settings
// lazily and failed on first use, often with a stack trace and sometimes only
// at the first request. Here every environment variable of the original is
// read once, with the original's names, aliases and defaults, parsed into
// typed fields, and checked at start-up: Load reports every bad variable at
// once, one clear message each (name, value, what is allowed), joined with
// errors.Join.
//
// Load takes a lookup function (os.LookupEnv in production, a map in tests),
// so nothing here reads the process environment by itself.
package config
