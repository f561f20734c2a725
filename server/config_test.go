package server_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lorafuota/lorafuota/server"
)

// TestDefaultConfigRoundTrip reads back what DefaultConfigTOML writes: the
// defaults, with the generated token, valid as they are.
func TestDefaultConfigRoundTrip(t *testing.T) {
	text := server.DefaultConfigTOML()
	cfg, err := server.ParseConfig([]byte(text), nil)
	if err != nil {
		t.Fatalf("the default configuration is refused: %v", err)
	}
	if len(cfg.Server.APITokens) != 1 || len(cfg.Server.APITokens[0]) < 16 {
		t.Fatalf("generated tokens %q", cfg.Server.APITokens)
	}
	want := server.DefaultConfig()
	want.Server.APITokens = cfg.Server.APITokens
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("read back:\n%+v\nwant DefaultConfig:\n%+v", cfg, want)
	}
	// Every key is written, with a comment somewhere above.
	keys := regexp.MustCompile(`(?m)^([a-z_]+) = `).FindAllStringSubmatch(text, -1)
	if len(keys) < 40 {
		t.Errorf("only %d keys written", len(keys))
	}
	if other := server.DefaultConfigTOML(); other == text {
		t.Error("two default configurations have the same token")
	}
	path := filepath.Join(t.TempDir(), "lorafuota.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := server.LoadConfig(path, nil); err != nil {
		t.Errorf("LoadConfig of the default file: %v", err)
	}
	if _, err := server.LoadConfig(filepath.Join(t.TempDir(), "none.toml"), nil); err == nil {
		t.Error("LoadConfig of a missing file: no error")
	}
}

// TestConfigInvalid refuses configurations that cannot work, naming the key.
func TestConfigInvalid(t *testing.T) {
	base := server.DefaultConfigTOML()
	for _, tc := range []struct {
		name string
		// set replaces the line starting with its key in base, or appends a
		// table.
		set  string
		want string
	}{
		{"unknown key", "[server]\ngrpc_lisen = \"x\"", "unknown key server.grpc_lisen"},
		{"syntax", "[server\n", "config:"},
		{"grpc listen", `grpc_listen = "8070"`, "server.grpc_listen"},
		{"http port", `http_listen = "127.0.0.1:99999"`, "server.http_listen"},
		{"no tokens", `api_tokens = []`, "server.api_tokens"},
		{"short token", `api_tokens = ["short"]`, "server.api_tokens[0]"},
		{"cert without key", `tls_cert = "cert.pem"`, "server.tls_cert, server.tls_key"},
		{"lease", `lease_ttl = "10ms"`, "server.lease_ttl"},
		{"duration", `lease_ttl = "soon"`, "lease_ttl"},
		{"api", `api = ""`, "chirpstack.api"},
		{"chirpstack region", `region = "EU869"`, "chirpstack.region"},
		{"mqtt scheme", `server = "http://broker:1883"`, "chirpstack.mqtt.server"},
		{"mqtt encoding", "[chirpstack.mqtt]\nencoding = \"xml\"", "chirpstack.mqtt.encoding"},
		{"mqtt qos", `qos = 3`, "chirpstack.mqtt.qos"},
		{"no event source", "[chirpstack.mqtt]\nenabled = false", "chirpstack.mqtt.enabled, chirpstack.http_integration.enabled"},
		{"http without secret", "[chirpstack.http_integration]\nenabled = true", "chirpstack.http_integration.secret"},
		{"http path", "[chirpstack.http_integration]\nenabled = true\nsecret = \"s\"\npath = \"/metrics\"", "chirpstack.http_integration.path"},
		{"redis", `addr = ""`, "redis.addr"},
		{"redis db", `db = -1`, "redis.db"},
		{"redis prefix", `prefix = "a{b}"`, "redis.prefix"},
		{"mc addr", `mc_addr_min = "fc00"`, "multicast.mc_addr_min"},
		{"mc range", `mc_addr_min = "fd000000"`, "multicast.mc_addr_min"},
		{"gateway", `gateways = ["0016c001f0000001", "nope"]`, "multicast.gateways[1]"},
		{"campaign region", "[campaign]\nregion = \"XX123\"", "campaign.region"},
		{"campaign dr", `dr = 9`, "campaign.dr 9"},
		{"campaign loss", `expected_loss = 1.5`, "campaign.expected_loss"},
		{"campaign model", `duty_cycle_model = "lbt"`, "campaign.duty_cycle_model"},
		{"campaign retries", `retries = -1`, "campaign.retries"},
		{"campaign ack delay", `block_ack_delay = 8`, "campaign.block_ack_delay"},
		{"campaign negative", `start_margin = "-1s"`, "campaign.start_margin"},
		{"log level", `level = "loud"`, "log.level"},
		{"log format", `format = "xml"`, "log.format"},
		{"time scale", `time_scale = 0.5`, "testing.time_scale"},
		{"time origin", `time_origin = "yesterday"`, "testing.time_origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := edit(t, base, tc.set)
			_, err := server.ParseConfig([]byte(text), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}

// edit sets a key of a TOML text: a line "key = value" replaces the first
// line setting key; a text starting with a table header is appended.
func edit(t *testing.T, base, set string) string {
	t.Helper()
	if strings.HasPrefix(set, "[") {
		// Keys of a table appended again would be duplicates; rewrite them
		// in place instead when the table exists.
		header, rest, _ := strings.Cut(set, "\n")
		if i := strings.Index(base, header+"\n"); i >= 0 && rest != "" {
			out := base
			for line := range strings.SplitSeq(rest, "\n") {
				key, _, _ := strings.Cut(line, " = ")
				re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`)
				loc := re.FindStringIndex(out[i:])
				if loc == nil {
					out = out[:i+len(header)+1] + line + "\n" + out[i+len(header)+1:]
					continue
				}
				out = out[:i+loc[0]] + line + out[i+loc[1]:]
			}
			return out
		}
		return base + "\n" + set + "\n"
	}
	key, _, _ := strings.Cut(set, " = ")
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(key) + ` = .*$`)
	loc := re.FindStringIndex(base)
	if loc == nil {
		t.Fatalf("no key %q in the default configuration", key)
	}
	return base[:loc[0]] + set + base[loc[1]:]
}

// TestConfigEnv overrides keys from the environment.
func TestConfigEnv(t *testing.T) {
	env := map[string]string{
		"LORAFUOTA_CHIRPSTACK_API_KEY":                  "secret-key",
		"LORAFUOTA_SERVER_API_TOKENS":                   "token-one-0123456789, token-two-0123456789",
		"LORAFUOTA_REDIS_ADDR":                          "memory",
		"LORAFUOTA_REDIS_DB":                            "3",
		"LORAFUOTA_CHIRPSTACK_MQTT_ENABLED":             "false",
		"LORAFUOTA_CHIRPSTACK_HTTP_INTEGRATION_ENABLED": "true",
		"LORAFUOTA_CHIRPSTACK_HTTP_INTEGRATION_SECRET":  "Bearer hook",
		"LORAFUOTA_CAMPAIGN_EXPECTED_LOSS":              "0.2",
		"LORAFUOTA_CAMPAIGN_FREQUENCY":                  "869525000",
		"LORAFUOTA_SERVER_LEASE_TTL":                    "1m",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := server.ParseConfig([]byte(server.DefaultConfigTOML()), lookup)
	if err != nil {
		t.Fatal(err)
	}
	c := cfg
	switch {
	case c.ChirpStack.APIKey != "secret-key":
		t.Errorf("api key %q", c.ChirpStack.APIKey)
	case !reflect.DeepEqual(c.Server.APITokens, []string{"token-one-0123456789", "token-two-0123456789"}):
		t.Errorf("tokens %q", c.Server.APITokens)
	case c.Redis.Addr != "memory" || c.Redis.DB != 3:
		t.Errorf("redis %+v", c.Redis)
	case c.ChirpStack.MQTT.Enabled || !c.ChirpStack.HTTPIntegration.Enabled || c.ChirpStack.HTTPIntegration.Secret != "Bearer hook":
		t.Errorf("integration %+v", c.ChirpStack)
	case c.Campaign.ExpectedLoss != 0.2 || c.Campaign.Frequency != 869525000:
		t.Errorf("campaign %+v", c.Campaign)
	case time.Duration(c.Server.LeaseTTL) != time.Minute:
		t.Errorf("lease TTL %v", c.Server.LeaseTTL)
	}
	if got := server.EnvName("chirpstack.http_integration.secret"); got != "LORAFUOTA_CHIRPSTACK_HTTP_INTEGRATION_SECRET" {
		t.Errorf("EnvName = %q", got)
	}

	for name, bad := range map[string]string{
		"LORAFUOTA_REDIS_DB":                "three",
		"LORAFUOTA_CHIRPSTACK_MQTT_ENABLED": "maybe",
		"LORAFUOTA_SERVER_LEASE_TTL":        "soon",
		"LORAFUOTA_CAMPAIGN_EXPECTED_LOSS":  "lots",
	} {
		_, err := server.ParseConfig([]byte(server.DefaultConfigTOML()), func(k string) (string, bool) {
			if k == name {
				return bad, true
			}
			return "", false
		})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: error %v, want one naming the variable", name, bad, err)
		}
	}
}

// TestTestingClock: [testing] gives the wall clock by default, and the wall
// clock sped up from the origin otherwise.
func TestTestingClock(t *testing.T) {
	now := time.Now()
	def := server.DefaultConfig()
	c, err := def.Testing.Clock(now)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(c.Now()); d < -time.Second || d > time.Second {
		t.Errorf("default clock is %v off the wall clock", d)
	}
	origin := now.Add(-10 * time.Second).UTC()
	tc := server.TestingConfig{TimeScale: 10, TimeOrigin: origin.Format(time.RFC3339Nano)}
	if c, err = tc.Clock(now); err != nil {
		t.Fatal(err)
	}
	// 10 s of wall time since the origin are 100 s of the clock's.
	if got := c.Now().Sub(origin); got < 100*time.Second || got > 110*time.Second {
		t.Errorf("sped-up clock at origin+%v, want about origin+100s", got)
	}
	tc.TimeOrigin = now.Add(time.Minute).Format(time.RFC3339)
	if _, err := tc.Clock(now); err == nil || !strings.Contains(err.Error(), "testing.time_origin") {
		t.Errorf("origin in the future: %v, want an error naming testing.time_origin", err)
	}
}
