package jit

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEntitlementIDRoundTrip(t *testing.T) {
	t.Parallel()
	for _, e := range []Entitlement{
		{Project: "my-project", Role: "roles/compute.admin"},
		{Project: "my-project", Role: "projects/my-project/roles/custom.role"},
		{Project: "my-project", Role: "organizations/123/roles/custom", ResourceCondition: `resource.name.startsWith("x")`},
	} {
		got, err := ParseEntitlementID(e.ID())
		if err != nil || got != e {
			t.Errorf("ParseEntitlementID(%q) = %+v, %v", e.ID(), got, err)
		}
	}
}

func TestParseEntitlementIDRejects(t *testing.T) {
	t.Parallel()
	for _, id := range []string{
		"", "p", ":", "my-project:", ":roles/x", "my-project:roles/x:", "my-project:roles/x:a:b",
		"MY-PROJECT:roles/x", "my-project:owner", "my-project:roles/../x", "my-project:roles/x:***",
		"my-project:roles/x:" + base64.StdEncoding.EncodeToString([]byte{0xff, 0xfe}),
		strings.Repeat("a", 5000),
	} {
		_, err := ParseEntitlementID(id)
		if KindOf(err) != KindInvalid || MessageOf(err) != "Invalid ProjectRole ID" {
			t.Errorf("ParseEntitlementID(%q) = %v", id, err)
		}
	}
}

func TestParseUserID(t *testing.T) {
	t.Parallel()
	if u, err := ParseUserID(" Alice@Example.COM "); err != nil || u != "alice@example.com" || u.Member() != "user:alice@example.com" {
		t.Errorf("ParseUserID = %q, %v", u, err)
	}
	if u, _ := ParseUserID("sa@p.iam.gserviceaccount.com"); u.Member() != "serviceAccount:sa@p.iam.gserviceaccount.com" {
		t.Errorf("service account member = %q", u.Member())
	}
	for _, bad := range []string{"", "alice", "alice@", "@example.com", "a b@example.com", "alice@example.com\r\nBcc: x", "<alice@example.com>", "alice@example"} {
		if _, err := ParseUserID(bad); KindOf(err) != KindInvalid {
			t.Errorf("ParseUserID(%q) accepted", bad)
		}
	}
}

func TestErrorKindsAndMessages(t *testing.T) {
	t.Parallel()
	inner := E("inner", KindDenied, "no", errors.New("detail"))
	outer := E("outer", KindInternal, "", inner)
	if KindOf(outer) != KindDenied || MessageOf(outer) != "no" || !strings.Contains(outer.Error(), "detail") {
		t.Errorf("kind %v message %q error %q", KindOf(outer), MessageOf(outer), outer.Error())
	}
	if KindOf(errors.New("plain")) != KindInternal || MessageOf(errors.New("plain")) != "" {
		t.Error("plain errors must be internal and silent")
	}
}

func TestPolicyDefaultDuration(t *testing.T) {
	t.Parallel()
	if d := (Policy{MaxDuration: 30 * time.Minute}).DefaultDuration(); d != 30*time.Minute {
		t.Errorf("DefaultDuration = %v", d)
	}
	if d := (Policy{MaxDuration: 8 * time.Hour}).DefaultDuration(); d != time.Hour {
		t.Errorf("DefaultDuration = %v", d)
	}
}

func FuzzParseEntitlementID(f *testing.F) {
	f.Add("my-project:roles/compute.admin")
	f.Add("my-project:roles/x:" + base64.StdEncoding.EncodeToString([]byte(`resource.name == "x"`)))
	f.Add("::")
	f.Fuzz(func(t *testing.T, id string) {
		e, err := ParseEntitlementID(id)
		if err != nil {
			return
		}
		again, err := ParseEntitlementID(e.ID())
		if err != nil || again != e {
			t.Errorf("%q parsed to %+v, which does not round-trip: %+v %v", id, e, again, err)
		}
	})
}

func FuzzCheckJustification(f *testing.F) {
	f.Add("INC-1")
	f.Add("\u202e")
	p := Policy{MaxDuration: time.Hour}
	f.Add("CHG-1 (request mpa-abc)")
	f.Fuzz(func(t *testing.T, j string) {
		err := p.CheckJustification(j)
		if err == nil && strings.ContainsAny(j, "\r\n\x00") {
			t.Errorf("accepted %q", j)
		}
		if err != nil {
			return
		}
		// An accepted justification never names a request: the binding
		// of an approval names its own, a self-approval's none.
		self := Activation{ID: "jit-abc", Justification: j}
		approved := Activation{ID: "mpa-own", Approver: "dave@example.com", Justification: j}
		if id := RequestIDOf(self.Description()); id != "" {
			t.Errorf("self-approval with %q names %q", j, id)
		}
		if id := RequestIDOf(approved.Description()); id != approved.ID {
			t.Errorf("approval with %q names %q", j, id)
		}
	})
}

func TestJustificationsMayNotCarryTheRequestMarker(t *testing.T) {
	t.Parallel()
	p := Policy{MaxDuration: time.Hour}
	for _, j := range []string{"INC-1 (request mpa-abc)", "INC-1 (Request MPA-abc) and more", "(request\u00a0mpa-x", "x ( request  mpa-"} {
		err := p.CheckJustification(j)
		if KindOf(err) != KindInvalid || !strings.Contains(MessageOf(err), `cannot contain "(request mpa-…)"`) {
			t.Errorf("CheckJustification(%q) = %v", j, err)
		}
	}
	for _, j := range []string{"INC-1 (request from the on-call lead)", "mpa-abc", "request mpa-abc"} {
		if err := p.CheckJustification(j); err != nil {
			t.Errorf("CheckJustification(%q) = %v", j, err)
		}
	}
}

func TestGrantIDRoundTripAndDescription(t *testing.T) {
	t.Parallel()
	g := Grant{Resource: "folders/1001", Role: "roles/viewer", Member: "user:alice@example.com",
		Expression: `(request.time >= timestamp("2026-01-01T00:00:00Z") && request.time < timestamp("2026-01-01T01:00:00Z"))`}
	ref, err := ParseGrantID(g.ID())
	if err != nil || ref != g.Ref() {
		t.Errorf("ParseGrantID(ID()) = %+v, %v", ref, err)
	}
	for _, bad := range []string{"", "g1.", "x" + g.ID(), "g1." + base64.RawURLEncoding.EncodeToString([]byte("projects/x\nroles/v\nuser:a@b.c\nexpr")),
		"g1." + base64.RawURLEncoding.EncodeToString([]byte("folders/1\nroles/v\ngroup:a@b.c\nexpr")),
		"g1." + base64.RawURLEncoding.EncodeToString([]byte("folders/1\nroles/v\nuser:a@b.c\n "))} {
		if _, err := ParseGrantID(bad); KindOf(err) != KindInvalid {
			t.Errorf("ParseGrantID(%q) accepted", bad)
		}
	}
	for d, want := range map[string][2]string{
		"Self-approved, justification: INC-1":                                             {"", "INC-1"},
		"Approved by bob@example.com, justification: CHG-2, urgent":                       {"bob@example.com", "CHG-2, urgent"},
		"Approved by bob@example.com, justification: CHG-2 (request mpa-abc)":             {"bob@example.com", "CHG-2"},
		"Approved by a@example.com, b@example.com, justification: CHG-3 (request mpa-x1)": {"a@example.com b@example.com", "CHG-3"},
		"Approved by not an email, justification: x":                                      {"", ""},
		"Temporary access for the audit":                                                  {"", ""},
	} {
		a, j, _ := ParseDescription(d)
		var names []string
		for _, u := range a {
			names = append(names, string(u))
		}
		if strings.Join(names, " ") != want[0] || j != want[1] {
			t.Errorf("ParseDescription(%q) = %q, %q", d, a, j)
		}
	}
}

func FuzzParseGrantID(f *testing.F) {
	f.Add(GrantRef{Resource: "projects/my-project", Role: "roles/viewer", Member: "user:a@example.com", Expression: "x"}.ID())
	f.Add("g1.AAAA")
	f.Fuzz(func(t *testing.T, id string) {
		ref, err := ParseGrantID(id)
		if err != nil {
			return
		}
		if again, err := ParseGrantID(ref.ID()); err != nil || again != ref {
			t.Errorf("round trip of %q: %+v, %v", id, again, err)
		}
	})
}
