package shadow

import "testing"

func TestRedact(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		paths   []string
		want    string
		changed bool
	}{
		{"member", `{"user":"ada","password":"hunter2"}`, []string{"$.password"}, `{"password":"[redacted]","user":"ada"}`, true},
		{"every element", `{"cards":[{"pan":"4111","exp":"12/30"},{"pan":"5500"}]}`, []string{"$.cards[*].pan"},
			`{"cards":[{"exp":"12/30","pan":"[redacted]"},{"pan":"[redacted]"}]}`, true},
		{"whole object", `{"auth":{"token":"x","n":1}}`, []string{"$.auth"}, `{"auth":"[redacted]"}`, true},
		{"any member", `{"a":{"x":1,"y":2}}`, []string{"$.a.*"}, `{"a":{"x":"[redacted]","y":"[redacted]"}}`, true},
		{"numbers keep their text", `{"big":12345678901234567890,"s":"x"}`, []string{"$.s"}, `{"big":12345678901234567890,"s":"[redacted]"}`, true},
		{"no match leaves the bytes", `{ "a" : 1 }`, []string{"$.b"}, `{ "a" : 1 }`, false},
		{"not JSON", `password=hunter2`, []string{"$.password"}, `password=hunter2`, false},
		{"root is never replaced", `[1,2]`, []string{"$"}, `[1,2]`, false},
		{"no paths", `{"a":1}`, nil, `{"a":1}`, false},
		{"html is not escaped", `{"a":"<b>","s":1}`, []string{"$.s"}, `{"a":"<b>","s":"[redacted]"}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ps []Path
			for _, s := range tc.paths {
				p, err := ParsePath(s)
				if err != nil {
					t.Fatal(err)
				}
				ps = append(ps, p)
			}
			got, changed := Redact([]byte(tc.body), ps, "[redacted]")
			if string(got) != tc.want || changed != tc.changed {
				t.Errorf("Redact(%s, %v) = %s, %v; want %s, %v", tc.body, tc.paths, got, changed, tc.want, tc.changed)
			}
		})
	}
}
