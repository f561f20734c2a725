package simulator

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseScenario feeds arbitrary files to the scenario parser: it must
// return a scenario or an error, never panic, and whatever it accepts must
// validate again unchanged.
func FuzzParseScenario(f *testing.F) {
	for _, p := range []string{"../examples/default.toml", "../examples/mixed.toml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("[[devices]]\nclass = \"D\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := ParseScenario(b)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("accepted scenario fails Validate: %v", err)
		}
	})
}

func TestScenarioDeviceLimit(t *testing.T) {
	_, err := ParseScenario([]byte("[[devices]]\ncount = 1000000000\n"))
	if err == nil || !strings.Contains(err.Error(), "devices[0].count") {
		t.Fatalf("a billion devices: %v, want an error naming devices[0].count", err)
	}
}
