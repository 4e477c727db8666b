package shadow_test

import (
	"errors"
	"fmt"

	"github.com/edged/edged/shadow"
)

func ExampleCompareBodies() {
	legacy := []byte(`{"users":[{"id":1,"name":"Ada"},{"id":2,"name":"Edsger"}],"generated_at":"10:00"}`)
	iso := []byte(`{"generated_at": "10:01", "users": [{"name":"Ada","id":1.0}, {"id":2,"name":"Alan"}]}`)

	ignore, _ := shadow.ParsePath("$.generated_at")
	path, a, b, equal := shadow.CompareBodies(legacy, iso, []shadow.Path{ignore}, nil)
	fmt.Println(path, a, b, equal)

	// Bodies that are not a JSON object or array compare as bytes, at path "".
	path, a, b, equal = shadow.CompareBodies([]byte("ok\n"), []byte("ok"), nil, nil)
	fmt.Printf("%q %q %q %v\n", path, a, b, equal)
	// Output:
	// $.users[1].name "Edsger" "Alan" false
	// "" "ok\n" "ok" false
}

func ExampleValidatePath() {
	for _, p := range []string{"$.items[*].id", "$.meta.*", "items.id"} {
		err := shadow.ValidatePath(p)
		fmt.Println(p, err == nil, errors.Is(err, shadow.ErrBadPath))
	}
	// Output:
	// $.items[*].id true false
	// $.meta.* true false
	// items.id false true
}

func ExampleNoise() {
	// Legacy answered the same request twice; what differs is noise.
	first := []byte(`{"items":[{"id":1,"seen":"10:00"},{"id":2,"seen":"10:00"}],"request_id":"a"}`)
	second := []byte(`{"items":[{"id":1,"seen":"10:02"},{"id":2,"seen":"10:02"}],"request_id":"b"}`)

	var noise shadow.Noise
	keys := shadow.AppendBodyNoise(nil, first, second, nil)
	keys = shadow.AppendHeaderNoise(keys, "X-Request-Id")
	noise.Observe(keys)
	fmt.Println(noise.List())

	// The isolate's answer differs from legacy's at noisy positions and in one real field.
	iso := []byte(`{"items":[{"id":1,"seen":"11:00"},{"id":3,"seen":"11:00"}],"request_id":"c"}`)
	path, a, b, _ := shadow.CompareBodies(first, iso, nil, &noise)
	fmt.Println(path, a, b)
	_, _, equal := shadow.CompareHeader("x-request-id", "a", "c", &noise)
	fmt.Println(equal)
	// Output:
	// [$.items[*].seen $.request_id header:x-request-id]
	// $.items[1].id 2 3
	// true
}
