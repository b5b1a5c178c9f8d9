package iam

import "testing"

func TestAdmits(t *testing.T) {
	t.Parallel()
	const user = "Dave@Example.com"
	tests := []struct {
		name    string
		members []string
		via     []string
		want    bool
	}{
		{"user_named", []string{"user:dave@example.com"}, nil, true},
		{"domain", []string{"domain:EXAMPLE.com"}, nil, true},
		{"all_users", []string{"allUsers"}, nil, true},
		{"all_authenticated_users", []string{"allAuthenticatedUsers"}, nil, true},
		{"other_user", []string{"user:erin@example.com"}, nil, false},
		{"other_domain", []string{"domain:example.org"}, nil, false},
		{"deleted_user", []string{"deleted:user:dave@example.com?uid=1"}, nil, false},
		{"group_known", []string{"group:a@example.com"}, []string{"group:A@example.com"}, true},
		{"one_of_two_groups_gone", []string{"group:a@example.com"}, []string{"group:a@example.com", "group:b@example.com"}, false},
		{"no_grounds", []string{"group:a@example.com"}, nil, false},
	}
	for _, tt := range tests {
		if got := admits(tt.members, user, tt.via); got != tt.want {
			t.Errorf("%s: admits(%v, %v) = %v, want %v", tt.name, tt.members, tt.via, got, tt.want)
		}
	}
}
