package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/brocaar/lorawan"
	"github.com/chirpstack/chirpstack/api/go/v4/common"

	"github.com/lorafuota/lorafuota/clock"
	"github.com/lorafuota/lorafuota/dutycycle"
	"github.com/lorafuota/lorafuota/fuota"
	"github.com/lorafuota/lorafuota/integration"
	"github.com/lorafuota/lorafuota/region"
)

// Config is the server's configuration file (TOML). Every key can be
// overridden by an environment variable named LORAFUOTA_ and the key's path
// in upper case with '_' for '.', e.g. LORAFUOTA_CHIRPSTACK_API_KEY for
// chirpstack.api_key; lists take comma-separated values.
type Config struct {
	Server     ServerConfig     `toml:"server"`
	ChirpStack ChirpStackConfig `toml:"chirpstack"`
	Redis      RedisConfig      `toml:"redis"`
	Multicast  MulticastConfig  `toml:"multicast"`
	Campaign   CampaignConfig   `toml:"campaign"`
	Log        LogConfig        `toml:"log"`
	Testing    TestingConfig    `toml:"testing"`
}

// ServerConfig is [server]: the APIs this server offers.
type ServerConfig struct {
	// GRPCListen serves DeploymentService and ChirpStack's FuotaService.
	GRPCListen string `toml:"grpc_listen"`
	// HTTPListen serves /metrics, /healthz and the HTTP integration; empty
	// turns the HTTP server off.
	HTTPListen string `toml:"http_listen"`
	// APITokens are the bearer tokens the gRPC APIs accept.
	APITokens []string `toml:"api_tokens"`
	// TLSCert and TLSKey (PEM files), both or neither, turn TLS on for gRPC
	// and HTTP.
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// InstanceID names this server in deployment leases; empty means
	// hostname-pid-random.
	InstanceID string `toml:"instance_id"`
	// LeaseTTL is how long a deployment stays this server's without
	// renewal; another server takes it over after that.
	LeaseTTL Duration `toml:"lease_ttl"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// ChirpStackConfig is [chirpstack]: the network server and its events.
type ChirpStackConfig struct {
	// API is ChirpStack's gRPC API, host:port.
	API    string `toml:"api"`
	APIKey string `toml:"api_key"`
	TLS    bool   `toml:"tls"`
	// CAFile replaces the system roots for the API's TLS.
	CAFile string `toml:"ca_file"`
	// ApplicationID is the application of deployments that name none;
	// empty takes the devices' own.
	ApplicationID string `toml:"application_id"`
	// Region is ChirpStack's region name for the multicast groups (EU868,
	// AS923_2, …); empty follows campaign.region.
	Region          string                `toml:"region"`
	MQTT            MQTTConfig            `toml:"mqtt"`
	HTTPIntegration HTTPIntegrationConfig `toml:"http_integration"`
}

// MQTTConfig is [chirpstack.mqtt]: ChirpStack's MQTT integration.
type MQTTConfig struct {
	Enabled bool `toml:"enabled"`
	// Server is the broker URL: tcp://, ssl://, ws:// or wss://.
	Server string `toml:"server"`
	// Topic is the subscription; a shared one ($share/group/…) spreads the
	// events over several servers.
	Topic string `toml:"topic"`
	// Encoding is json, protobuf or auto.
	Encoding string `toml:"encoding"`
	QoS      int    `toml:"qos"`
	Username string `toml:"username"`
	Password string `toml:"password"`
	// ClientID is empty for a random one.
	ClientID string `toml:"client_id"`
}

// HTTPIntegrationConfig is [chirpstack.http_integration]: ChirpStack's
// HTTP integration posting to this server.
type HTTPIntegrationConfig struct {
	Enabled bool `toml:"enabled"`
	// Path is where the events are posted, on server.http_listen.
	Path string `toml:"path"`
	// SecretHeader must carry Secret exactly (set both as a header of the
	// integration in ChirpStack).
	SecretHeader string `toml:"secret_header"`
	Secret       string `toml:"secret"`
	Encoding     string `toml:"encoding"`
}

// RedisConfig is [redis]: where the state lives.
type RedisConfig struct {
	// Addr is host:port, comma-separated addresses for a Cluster or
	// Sentinels, or "memory" for an embedded server whose state is lost on
	// exit.
	Addr string `toml:"addr"`
	// MasterName is the Sentinel master; empty without Sentinel.
	MasterName string `toml:"master_name"`
	Username   string `toml:"username"`
	Password   string `toml:"password"`
	DB         int    `toml:"db"`
	TLS        bool   `toml:"tls"`
	Prefix     string `toml:"prefix"`
}

// MulticastConfig is [multicast]: the groups the server creates.
type MulticastConfig struct {
	// McAddrMin and McAddrMax bound the multicast addresses (DevAddr hex),
	// inside the network's address space.
	McAddrMin string `toml:"mc_addr_min"`
	McAddrMax string `toml:"mc_addr_max"`
	// Gateways (EUI-64 hex) carry every deployment's group unless it names
	// its own; empty leaves the choice to ChirpStack.
	Gateways []string `toml:"gateways"`
}

// CampaignConfig is [campaign]: the defaults of a deployment's options.
// Zero durations and counts take the engine's defaults.
type CampaignConfig struct {
	Region string `toml:"region"`
	DR     int    `toml:"dr"`
	// Frequency is the multicast frequency in Hz; 0 is the region's RX2.
	Frequency    uint32  `toml:"frequency"`
	FragmentSize int     `toml:"fragment_size"`
	Redundancy   int     `toml:"redundancy"`
	ExpectedLoss float64 `toml:"expected_loss"`
	Target       float64 `toml:"target"`
	// DutyCycleModel is concentratord (sliding window) or basic-station
	// (off-time).
	DutyCycleModel string `toml:"duty_cycle_model"`
	// NSMargin is ChirpStack's multicast_class_c_margin.
	NSMargin       Duration `toml:"ns_margin"`
	Retries        int      `toml:"retries"`
	RetryTimeout   Duration `toml:"retry_timeout"`
	SetupTimeout   Duration `toml:"setup_timeout"`
	UnicastSpacing Duration `toml:"unicast_spacing"`
	StartMargin    Duration `toml:"start_margin"`
	RebootDelay    Duration `toml:"reboot_delay"`
	RebootGrace    Duration `toml:"reboot_grace"`
	StatusDelay    Duration `toml:"status_delay"`
	BlockAckDelay  int      `toml:"block_ack_delay"`
}

// LogConfig is [log].
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
	// Format is text or json.
	Format string `toml:"format"`
}

// TestingConfig is [testing]: options for tests, off by default, never for
// a server that talks to real devices.
type TestingConfig struct {
	// TimeScale runs the server's clock TimeScale times as fast as the wall
	// clock, counted from TimeOrigin (clock.Scaled); 1, the default, is the
	// wall clock. It lets a test run the server against `lorafuota sim
	// serve --time-scale K --time-origin T` with the same K and T, so that
	// both keep one timeline and a campaign of minutes takes seconds. Every
	// time of a deployment (timeouts, pacing, session times, lease
	// renewals) is in the sped-up time; network latency, gRPC deadlines
	// and Redis expiries are not. Must be at least 1.
	TimeScale float64 `toml:"time_scale"`
	// TimeOrigin is the RFC 3339 wall-clock time the speed-up counts from;
	// empty means the server's start.
	TimeOrigin string `toml:"time_origin"`
}

// check validates [testing] and returns the origin, the zero time if none
// is given.
func (t *TestingConfig) check() (time.Time, error) {
	if !(t.TimeScale >= 1) || math.IsInf(t.TimeScale, 1) {
		return time.Time{}, fmt.Errorf("testing.time_scale %v: must be a finite number of at least 1 (1 is the wall clock)", t.TimeScale)
	}
	if t.TimeOrigin == "" {
		return time.Time{}, nil
	}
	origin, err := time.Parse(time.RFC3339Nano, t.TimeOrigin)
	if err != nil {
		return time.Time{}, fmt.Errorf("testing.time_origin %q: want an RFC 3339 time such as 2026-05-04T10:00:00Z", t.TimeOrigin)
	}
	return origin, nil
}

// Clock returns the clock [testing] asks for at wall time now: the wall
// clock, or the wall clock sped up from the origin (now when none is
// given), which must not be after now.
func (t *TestingConfig) Clock(now time.Time) (clock.Clock, error) {
	origin, err := t.check()
	if err != nil {
		return nil, err
	}
	switch {
	case origin.IsZero():
		origin = now
	case origin.After(now):
		return nil, fmt.Errorf("testing.time_origin %s: in the future", t.TimeOrigin)
	}
	c, err := clock.Scaled(origin, t.TimeScale)
	if err != nil {
		return nil, fmt.Errorf("testing.time_scale: %w", err)
	}
	return c, nil
}

// Duration is a time.Duration written as in Go ("30s", "1m30s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns the configuration DefaultConfigTOML writes, without
// API tokens.
func DefaultConfig() Config {
	return Config{
		Server: ServerConfig{
			GRPCListen: "127.0.0.1:8070", HTTPListen: "127.0.0.1:8090",
			LeaseTTL: Duration(30 * time.Second), ShutdownTimeout: Duration(10 * time.Second),
		},
		ChirpStack: ChirpStackConfig{
			API: "127.0.0.1:8080",
			MQTT: MQTTConfig{
				Enabled: true, Server: "tcp://127.0.0.1:1883", Topic: integration.DefaultTopic, Encoding: "auto",
			},
			HTTPIntegration: HTTPIntegrationConfig{
				Path: "/integration", SecretHeader: integration.DefaultSecretHeader, Encoding: "auto",
			},
		},
		Redis:     RedisConfig{Addr: "127.0.0.1:6379", Prefix: "lorafuota:"},
		Multicast: MulticastConfig{McAddrMin: "fc000000", McAddrMax: "fc0000ff", Gateways: []string{}},
		Campaign: CampaignConfig{
			Region: "EU868", DR: 5, ExpectedLoss: 0.1, Target: 0.99, DutyCycleModel: "concentratord",
			NSMargin: Duration(5 * time.Second), Retries: 3, RetryTimeout: Duration(30 * time.Second),
			RebootDelay: Duration(time.Minute), RebootGrace: Duration(time.Minute), StatusDelay: Duration(10 * time.Second),
		},
		Log:     LogConfig{Level: "info", Format: "text"},
		Testing: TestingConfig{TimeScale: 1},
	}
}

// defaultConfigTOML is DefaultConfig as a commented file; %s is the API
// token.
const defaultConfigTOML = `# lorafuota serve configuration. Every key can be overridden by an
# environment variable: LORAFUOTA_ and the key's path in upper case, e.g.
# LORAFUOTA_CHIRPSTACK_API_KEY for chirpstack.api_key (lists: a,b,c).

[server]
# lorafuota's gRPC API (DeploymentService) and ChirpStack's FuotaService.
grpc_listen = "127.0.0.1:8070"
# /metrics, /healthz and the HTTP integration; "" turns HTTP off.
http_listen = "127.0.0.1:8090"
# Bearer tokens the gRPC APIs accept ("authorization: Bearer <token>").
# This one was generated for this file.
api_tokens = ["%s"]
# PEM certificate and key, both or neither: TLS for gRPC and HTTP.
tls_cert = ""
tls_key = ""
# Name of this server in deployment leases; "" is hostname-pid-random.
instance_id = ""
# A deployment whose server has not renewed its lease for this long is
# taken over by another server on the same Redis.
lease_ttl = "30s"
shutdown_timeout = "10s"

[chirpstack]
# ChirpStack's gRPC API and an API key made in its web interface.
api = "127.0.0.1:8080"
api_key = ""
tls = false
ca_file = ""
# Application of deployments that name none; "" takes the devices' own.
application_id = ""
# ChirpStack region of the multicast groups (EU868, US915, AS923_2, ...);
# "" follows campaign.region.
region = ""

[chirpstack.mqtt]
# ChirpStack's MQTT integration (its default). Turn the device profiles'
# app_layer_params off for the devices lorafuota manages.
enabled = true
server = "tcp://127.0.0.1:1883"
# "$share/lorafuota/application/+/device/+/event/+" spreads the events
# over several servers.
topic = "application/+/device/+/event/+"
# json, protobuf or auto.
encoding = "auto"
qos = 0
username = ""
password = ""
client_id = ""

[chirpstack.http_integration]
# ChirpStack's HTTP integration: set its endpoint to
# http://<http_listen><path> and add the header below with the secret.
enabled = false
path = "/integration"
secret_header = "Authorization"
secret = ""
encoding = "auto"

[redis]
# host:port, comma-separated addresses for a Cluster or Sentinels, or
# "memory" for an embedded Redis whose state is lost on exit.
addr = "127.0.0.1:6379"
master_name = ""
username = ""
password = ""
db = 0
tls = false
prefix = "lorafuota:"

[multicast]
# Multicast addresses (DevAddr, hex) for the groups, inside the network's
# DevAddr space.
mc_addr_min = "fc000000"
mc_addr_max = "fc0000ff"
# Gateways (EUI-64) carrying every group unless a deployment names its
# own; [] lets ChirpStack choose.
gateways = []

[campaign]
# Defaults of every deployment's options. 0 for a count or "0s" for a
# duration takes the engine's default.
region = "EU868"
dr = 5
# Multicast frequency in Hz; 0 is the region's RX2 frequency.
frequency = 0
# Fragment size in bytes; 0 is the largest the data rate carries.
fragment_size = 0
# Parity fragments per data block; 0 sizes them from expected_loss.
redundancy = 0
expected_loss = 0.1
target = 0.99
# concentratord (sliding window) or basic-station (off-time).
duty_cycle_model = "concentratord"
# ChirpStack's multicast_class_c_margin.
ns_margin = "5s"
retries = 3
retry_timeout = "30s"
setup_timeout = "0s"
unicast_spacing = "0s"
start_margin = "0s"
reboot_delay = "1m0s"
# Time after the reboot before DevVersionReq checks the new version.
reboot_grace = "1m0s"
# Wait from the last fragment's end to the status requests.
status_delay = "10s"
block_ack_delay = 0

[log]
# debug, info, warn or error.
level = "info"
# text or json.
format = "text"

[testing]
# For tests only: the server's clock runs time_scale times as fast as the
# wall clock, counted from time_origin (RFC 3339; "" is the start), to keep
# the time of ` + "`lorafuota sim serve --time-scale K --time-origin T`" + ` given the
# same values. 1 is the wall clock; never change it with real devices.
time_scale = 1.0
time_origin = ""
`

// DefaultConfigTOML returns the default configuration as a commented TOML
// file, with a newly generated API token.
func DefaultConfigTOML() string {
	return fmt.Sprintf(defaultConfigTOML, rand.Text())
}

// LoadConfig reads a configuration file, applies the overrides env finds
// (os.LookupEnv, or a function that puts flags first) and validates the
// result.
func LoadConfig(path string, env func(string) (string, bool)) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(b, env)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes a TOML configuration over DefaultConfig, applies the
// overrides env finds (os.LookupEnv, or nil for none) and validates it.
// Unknown keys are errors, so that a typo does not fall back to a default.
func ParseConfig(b []byte, env func(string) (string, bool)) (Config, error) {
	cfg := DefaultConfig()
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&cfg)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return Config{}, fmt.Errorf("config: unknown key %s", und[0])
	}
	if env != nil {
		if err := applyEnv(reflect.ValueOf(&cfg).Elem(), "", env); err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// EnvName returns the environment variable that overrides key (a dotted
// path such as "chirpstack.api_key").
func EnvName(key string) string {
	return "LORAFUOTA_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

var durationType = reflect.TypeFor[Duration]()

// applyEnv sets every field of v (a struct) whose variable env finds.
func applyEnv(v reflect.Value, prefix string, env func(string) (string, bool)) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		if prefix != "" {
			key = prefix + "." + key
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct {
			if err := applyEnv(fv, key, env); err != nil {
				return err
			}
			continue
		}
		name := EnvName(key)
		s, ok := env(name)
		if !ok {
			continue
		}
		if err := setFromEnv(fv, s); err != nil {
			return fmt.Errorf("%s (for %s) %q: %w", name, key, s, err)
		}
	}
	return nil
}

func setFromEnv(v reflect.Value, s string) error {
	if v.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("want true or false")
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errors.New("want an integer")
		}
		v.SetInt(n)
	case reflect.Uint32:
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return errors.New("want an unsigned 32-bit integer")
		}
		v.SetUint(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("want a number")
		}
		v.SetFloat(x)
	case reflect.Slice:
		var items []string
		for it := range strings.SplitSeq(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("cannot set a %s", v.Type())
	}
	return nil
}

// minTokenLen is the shortest API token accepted: a guessable token is no
// protection.
const minTokenLen = 16

// Validate checks the configuration; an error names the key and the
// reason.
func (c *Config) Validate() error {
	s := &c.Server
	if err := checkListen("server.grpc_listen", s.GRPCListen, false); err != nil {
		return err
	}
	if err := checkListen("server.http_listen", s.HTTPListen, true); err != nil {
		return err
	}
	if len(s.APITokens) == 0 {
		return errors.New("server.api_tokens: empty: the gRPC APIs need at least one token (lorafuota config generates one)")
	}
	for i, tok := range s.APITokens {
		if len(tok) < minTokenLen {
			return fmt.Errorf("server.api_tokens[%d]: %d characters: want at least %d", i, len(tok), minTokenLen)
		}
	}
	if (s.TLSCert == "") != (s.TLSKey == "") {
		return errors.New("server.tls_cert, server.tls_key: give both or neither")
	}
	if s.LeaseTTL < Duration(time.Second) {
		return fmt.Errorf("server.lease_ttl %v: must be at least 1s", time.Duration(s.LeaseTTL))
	}
	if s.ShutdownTimeout < 0 {
		return fmt.Errorf("server.shutdown_timeout %v: must not be negative", time.Duration(s.ShutdownTimeout))
	}

	cs := &c.ChirpStack
	if cs.API == "" {
		return errors.New("chirpstack.api: empty: ChirpStack's gRPC API address is needed")
	}
	if cs.Region != "" {
		if _, ok := common.Region_value[cs.Region]; !ok {
			return fmt.Errorf("chirpstack.region %q: not a ChirpStack region name (EU868, US915, AS923, AS923_2, ...)", cs.Region)
		}
	}
	m := &cs.MQTT
	h := &cs.HTTPIntegration
	if !m.Enabled && !h.Enabled {
		return errors.New("chirpstack.mqtt.enabled, chirpstack.http_integration.enabled: both false: the server would hear no device")
	}
	if m.Enabled {
		u, err := url.Parse(m.Server)
		switch {
		case m.Server == "" || err != nil:
			return fmt.Errorf("chirpstack.mqtt.server %q: want a broker URL such as tcp://127.0.0.1:1883", m.Server)
		case !oneOf(u.Scheme, "tcp", "ssl", "tls", "mqtt", "mqtts", "ws", "wss"):
			return fmt.Errorf("chirpstack.mqtt.server %q: scheme %q: want tcp, ssl, ws or wss", m.Server, u.Scheme)
		case m.QoS < 0 || m.QoS > 2:
			return fmt.Errorf("chirpstack.mqtt.qos %d: must be 0, 1 or 2", m.QoS)
		}
		if _, err := integration.ParseEncoding(m.Encoding); err != nil {
			return fmt.Errorf("chirpstack.mqtt.encoding: %w", err)
		}
	}
	if h.Enabled {
		switch {
		case c.Server.HTTPListen == "":
			return errors.New("chirpstack.http_integration.enabled: needs server.http_listen")
		case !strings.HasPrefix(h.Path, "/") || h.Path == "/":
			return fmt.Errorf("chirpstack.http_integration.path %q: want a path such as /integration", h.Path)
		case h.Path == "/metrics" || h.Path == "/healthz":
			return fmt.Errorf("chirpstack.http_integration.path %q: taken by the server", h.Path)
		case h.Secret == "":
			return fmt.Errorf("chirpstack.http_integration.secret: empty: the endpoint would take events from anyone (or set %s)", EnvName("chirpstack.http_integration.secret"))
		case h.SecretHeader == "":
			return errors.New("chirpstack.http_integration.secret_header: empty")
		}
		if _, err := integration.ParseEncoding(h.Encoding); err != nil {
			return fmt.Errorf("chirpstack.http_integration.encoding: %w", err)
		}
	}

	r := &c.Redis
	switch {
	case strings.TrimSpace(r.Addr) == "":
		return errors.New(`redis.addr: empty: give host:port, or "memory" for an embedded Redis (state lost on exit)`)
	case r.DB < 0:
		return fmt.Errorf("redis.db %d: must not be negative", r.DB)
	case strings.ContainsAny(r.Prefix, "{}"):
		return fmt.Errorf("redis.prefix %q: must not contain '{' or '}'", r.Prefix)
	}

	if _, err := c.Multicast.pool(); err != nil {
		return err
	}
	if _, err := parseGateways("multicast.gateways", c.Multicast.Gateways); err != nil {
		return err
	}

	if _, err := c.Campaign.Defaults(); err != nil {
		return err
	}

	if _, err := parseLevel(c.Log.Level); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	if !oneOf(c.Log.Format, "text", "json") {
		return fmt.Errorf("log.format %q: want text or json", c.Log.Format)
	}
	if _, err := c.Testing.check(); err != nil {
		return err
	}
	return nil
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// checkListen checks a host:port to listen on.
func checkListen(key, addr string, optional bool) error {
	if addr == "" {
		if optional {
			return nil
		}
		return fmt.Errorf("%s: empty", key)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", key, addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%s %q: port %q: want 0..65535", key, addr, port)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q: want debug, info, warn or error", s)
	}
	return l, nil
}

// pool returns the McAddr pool.
func (m *MulticastConfig) pool() (poolRange, error) {
	var p poolRange
	if err := p.Min.UnmarshalText([]byte(m.McAddrMin)); err != nil {
		return p, fmt.Errorf("multicast.mc_addr_min %q: want 8 hex digits: %w", m.McAddrMin, err)
	}
	if err := p.Max.UnmarshalText([]byte(m.McAddrMax)); err != nil {
		return p, fmt.Errorf("multicast.mc_addr_max %q: want 8 hex digits: %w", m.McAddrMax, err)
	}
	if bytes.Compare(p.Min[:], p.Max[:]) > 0 {
		return p, fmt.Errorf("multicast.mc_addr_min %s: above mc_addr_max %s", p.Min, p.Max)
	}
	return p, nil
}

// poolRange is a McAddr range; store.McAddrPool has the same shape.
type poolRange struct{ Min, Max lorawan.DevAddr }

// parseGateways parses gateway EUIs, naming key[i] in errors, and returns
// them in ChirpStack's lower-case hex.
func parseGateways(key string, ids []string) ([]string, error) {
	out := make([]string, 0, len(ids))
	seen := map[lorawan.EUI64]bool{}
	for i, id := range ids {
		var eui lorawan.EUI64
		if err := eui.UnmarshalText([]byte(id)); err != nil {
			return nil, invalid(fmt.Sprintf("%s[%d]", key, i), "%q: want 16 hex digits", id)
		}
		if seen[eui] {
			return nil, invalid(fmt.Sprintf("%s[%d]", key, i), "%s listed twice", eui)
		}
		seen[eui] = true
		out = append(out, eui.String())
	}
	return out, nil
}

// Defaults checks [campaign] and returns it as the Manager's Defaults.
func (c *CampaignConfig) Defaults() (Defaults, error) {
	name, err := region.ParseName(c.Region)
	if err != nil {
		return Defaults{}, fmt.Errorf("campaign.region: %w", err)
	}
	model, err := dutycycle.ParseModel(c.DutyCycleModel)
	if err != nil {
		return Defaults{}, fmt.Errorf("campaign.duty_cycle_model: %w", err)
	}
	switch {
	case c.Retries < 0:
		return Defaults{}, fmt.Errorf("campaign.retries %d: must not be negative", c.Retries)
	case c.BlockAckDelay < 0 || c.BlockAckDelay > 7:
		return Defaults{}, fmt.Errorf("campaign.block_ack_delay %d: must be 0..7", c.BlockAckDelay)
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{
		{"ns_margin", c.NSMargin}, {"retry_timeout", c.RetryTimeout}, {"setup_timeout", c.SetupTimeout},
		{"unicast_spacing", c.UnicastSpacing}, {"start_margin", c.StartMargin}, {"reboot_delay", c.RebootDelay},
		{"reboot_grace", c.RebootGrace}, {"status_delay", c.StatusDelay},
	} {
		if d.v < 0 {
			return Defaults{}, fmt.Errorf("campaign.%s %v: must not be negative", d.key, time.Duration(d.v))
		}
	}
	def := Defaults{
		Region: name, DR: c.DR, FrequencyHz: c.Frequency, FragmentSize: c.FragmentSize, Redundancy: c.Redundancy,
		ExpectedLoss: c.ExpectedLoss, Target: c.Target, DutyCycleModel: model, Margin: time.Duration(c.NSMargin),
		Retry:        fuota.RetryPolicy{Count: c.Retries, Timeout: time.Duration(c.RetryTimeout)},
		SetupTimeout: time.Duration(c.SetupTimeout), UnicastSpacing: time.Duration(c.UnicastSpacing),
		StartMargin: time.Duration(c.StartMargin), RebootDelay: time.Duration(c.RebootDelay),
		RebootGrace: time.Duration(c.RebootGrace), StatusDelay: time.Duration(c.StatusDelay),
		BlockAckDelay: uint8(c.BlockAckDelay),
	}
	// The planner checks the radio choices together; its messages name
	// the field, which lives under [campaign].
	if _, err := fuota.NewPlan(def.planRequest(1024, 1)); err != nil {
		return Defaults{}, fmt.Errorf("campaign.%w", err)
	}
	return def, nil
}
