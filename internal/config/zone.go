package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// parseZone reads NOTIFICATION_TIMEZONE as the original's ZoneId.of did:
// an IANA region such as Europe/Berlin, "Z", a bare offset (+2, +02,
// +02:00, +0200, +02:00:00, +020000), or UTC, GMT or UT alone or followed
// by such an offset (GMT+2, UTC+01:00). Offsets are limited to ±18:00, as
// in Java. Offset zones are named the way Java prints them ("+02:00",
// "GMT+02:00"), which is also what the emails show.
func parseZone(v string) (*time.Location, bool) {
	switch v {
	case "Z":
		return time.FixedZone("Z", 0), true
	case "UTC", "GMT", "UT":
		return time.FixedZone(v, 0), true
	}
	if v[0] == '+' || v[0] == '-' {
		secs, ok := parseOffset(v)
		if !ok {
			return nil, false
		}
		return time.FixedZone(offsetName(secs), secs), true
	}
	for _, prefix := range []string{"UTC", "GMT", "UT"} {
		rest, found := strings.CutPrefix(v, prefix)
		if found && rest != "" && (rest[0] == '+' || rest[0] == '-') {
			secs, ok := parseOffset(rest)
			if !ok {
				return nil, false
			}
			name := prefix + offsetName(secs)
			if secs == 0 {
				name = prefix
			}
			return time.FixedZone(name, secs), true
		}
	}
	if strings.EqualFold(v, "local") {
		// Go's "Local" is the machine's zone, which Java does not know.
		return nil, false
	}
	loc, err := time.LoadLocation(v)
	if err != nil {
		return nil, false
	}
	return loc, true
}

// parseOffset parses ±h, ±hh, ±hh:mm, ±hhmm, ±hh:mm:ss or ±hhmmss
// (java.time.ZoneOffset.of) into seconds east of UTC.
func parseOffset(s string) (int, bool) {
	sign := 1
	if s[0] == '-' {
		sign = -1
	}
	s = s[1:]
	var h, m, sec string
	switch len(s) {
	case 1, 2:
		h = s
	case 4:
		h, m = s[:2], s[2:]
	case 5:
		if s[2] != ':' {
			return 0, false
		}
		h, m = s[:2], s[3:]
	case 6:
		h, m, sec = s[:2], s[2:4], s[4:]
	case 8:
		if s[2] != ':' || s[5] != ':' {
			return 0, false
		}
		h, m, sec = s[:2], s[3:5], s[6:]
	default:
		return 0, false
	}
	parts := [3]int{}
	for i, p := range []string{h, m, sec} {
		if p == "" {
			continue
		}
		for _, c := range p {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		parts[i], _ = strconv.Atoi(p)
	}
	if parts[1] > 59 || parts[2] > 59 {
		return 0, false
	}
	total := parts[0]*3600 + parts[1]*60 + parts[2]
	if total > 18*3600 {
		return 0, false
	}
	return sign * total, true
}

// offsetName prints an offset as java.time.ZoneOffset does: "Z" for zero,
// else ±hh:mm, with :ss only when there are seconds.
func offsetName(secs int) string {
	if secs == 0 {
		return "Z"
	}
	sign := '+'
	if secs < 0 {
		sign, secs = '-', -secs
	}
	name := fmt.Sprintf("%c%02d:%02d", sign, secs/3600, secs/60%60)
	if secs%60 != 0 {
		name += fmt.Sprintf(":%02d", secs%60)
	}
	return name
}
