package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// VarError reports one bad environment variable. Its message names the
// variable, quotes the value (unless it is secret) and says what is allowed.
type VarError struct {
	Name   string
	Value  string
	Secret bool // the value is not repeated in the message
	Msg    string
}

func (e *VarError) Error() string {
	switch {
	case e.Secret:
		return e.Name + ": " + e.Msg
	case e.Value == "":
		return e.Name + " is not set: " + e.Msg
	default:
		return fmt.Sprintf("%s=%q: %s", e.Name, clip(e.Value, 100), e.Msg)
	}
}

// clip keeps messages readable when someone pastes a whole file into a
// variable.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// reader reads variables through lookup and collects one error per bad
// variable, so that Load can report all of them at once.
type reader struct {
	lookup   func(string) (string, bool)
	errs     []error
	warnings []string
}

// get returns the first of keys that is set to a non-blank value, trimmed,
// and the key it came from. Aliases are tried in order, as in the original.
func (r *reader) get(keys ...string) (value, key string, ok bool) {
	for _, k := range keys {
		if v, set := r.lookup(k); set {
			if v = strings.TrimSpace(v); v != "" {
				return v, k, true
			}
		}
	}
	return "", keys[0], false
}

// value returns one variable's trimmed value, if set and not blank.
func (r *reader) value(key string) (string, bool) {
	v, _, ok := r.get(key)
	return v, ok
}

func (r *reader) fail(name, value, format string, args ...any) {
	r.errs = append(r.errs, &VarError{Name: name, Value: value, Msg: fmt.Sprintf(format, args...)})
}

// str returns the value of keys, or def.
func (r *reader) str(def string, keys ...string) string {
	if v, _, ok := r.get(keys...); ok {
		return v
	}
	return def
}

// integer returns a whole number in [lo, hi], or def when unset.
func (r *reader) integer(def, lo, hi int, keys ...string) int {
	v, key, ok := r.get(keys...)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(key, v, "must be a whole number from %d to %d", lo, hi)
		return def
	}
	return n
}

// duration reads a whole number of unit (the original's format: "120"
// minutes, not "2h") in [lo, hi] units.
func (r *reader) duration(def time.Duration, unit time.Duration, unitName string, lo, hi int, keys ...string) time.Duration {
	v, key, ok := r.get(keys...)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(key, v, "must be a whole number of %s from %d to %d", unitName, lo, hi)
		return def
	}
	return time.Duration(n) * unit
}

// boolean reads a flag as the original's Boolean.parseBoolean did: "true"
// in any letter case is true and every other value is false, so that a
// configuration that worked keeps its meaning. A value other than true or
// false (such as "1", "yes" or "flase") is a warning, not an error: it
// starts, as it did before, and the warning says what it was read as.
func (r *reader) boolean(def bool, keys ...string) bool {
	v, key, ok := r.get(keys...)
	if !ok {
		return def
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	r.warn(fmt.Sprintf("%s=%q is read as false, as Just-In-Time Access 1.8.1 did (only \"true\" is true); set it to true or false", key, clip(v, 100)))
	return false
}

// warn records a problem that does not stop the app from starting.
func (r *reader) warn(msg string) {
	r.warnings = append(r.warnings, msg)
}
