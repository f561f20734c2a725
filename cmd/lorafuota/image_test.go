package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lorafuota/lorafuota/image"
)

// runImage executes `image ARGS...` on a fresh command tree and returns what
// it printed to standard output and the error.
func runImage(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := execute(t, "", append([]string{"image"}, args...)...)
	return stdout, err
}

func mustRunImage(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runImage(t, args...)
	if err != nil {
		t.Fatalf("image %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fixture makes a key pair of type alg and a firmware binary in a temp dir.
type fixture struct {
	dir, key, pub, other, fw string
}

func newFixture(t *testing.T, alg string) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{
		dir:   dir,
		key:   filepath.Join(dir, "key.pem"),
		pub:   filepath.Join(dir, "pub.pem"),
		other: filepath.Join(dir, "other.pem"),
		fw:    filepath.Join(dir, "fw.bin"),
	}
	mustRunImage(t, "keygen", "--type", alg, "-o", f.key, "--public", f.pub)
	mustRunImage(t, "keygen", "--type", alg, "-o", f.other)
	fw := make([]byte, 3000)
	for i := range fw {
		fw[i] = byte(i * 13)
	}
	if err := os.WriteFile(f.fw, fw, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fixture) path(name string) string { return filepath.Join(f.dir, name) }

func TestImageKeygen(t *testing.T) {
	for _, alg := range []string{"ed25519", "ecdsa-p256"} {
		t.Run(alg, func(t *testing.T) {
			f := newFixture(t, alg)
			st, err := os.Stat(f.key)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("private key mode %v, want 0600", st.Mode().Perm())
			}
			priv, _ := os.ReadFile(f.key)
			if !bytes.HasPrefix(priv, []byte("-----BEGIN PRIVATE KEY-----")) {
				t.Errorf("private key is not PKCS#8 PEM:\n%s", priv)
			}
			pub, _ := os.ReadFile(f.pub)
			if !bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----")) {
				t.Errorf("public key is not SubjectPublicKeyInfo PEM:\n%s", pub)
			}
			k, err := image.ParsePrivateKeyPEM(priv)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := image.KeyAlgorithm(k); string(got) != alg {
				t.Errorf("key algorithm %s, want %s", got, alg)
			}
		})
	}
}

func TestImageKeygenErrors(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "exists.pem")
	if err := os.WriteFile(existing, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown type", []string{"keygen", "--type", "rsa-2048", "-o", filepath.Join(dir, "k.pem")}, "unknown algorithm"},
		{"no output", []string{"keygen"}, "output"},
		{"existing file", []string{"keygen", "-o", existing}, "exists"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runImage(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "precious" {
		t.Error("keygen overwrote an existing file")
	}
}

// verifyJSONOut is what `image verify --json` prints.
type verifyJSONOut struct {
	File   string `json:"file"`
	OK     bool   `json:"ok"`
	CRC32  string `json:"crc32"`
	Checks []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

func (v verifyJSONOut) status(name string) string {
	for _, c := range v.Checks {
		if c.Name == name {
			return c.Status
		}
	}
	return ""
}

func TestImageSignVerify(t *testing.T) {
	for _, alg := range []string{"ed25519", "ecdsa-p256"} {
		f := newFixture(t, alg)
		signed := f.path("fw.signed")
		out := mustRunImage(t, "sign", "--key", f.key, "--version", "1.2.3+4", "--security-counter", "7",
			"--vendor", "acme.example", "--class", "sensor-v2", "--header-size", "0x200", f.fw, signed)
		if !strings.Contains(out, "version 1.2.3+4") {
			t.Errorf("%s: sign printed %q", alg, out)
		}
		flipped := f.path("fw.flipped")
		b, err := os.ReadFile(signed)
		if err != nil {
			t.Fatal(err)
		}
		b[0x200+10] ^= 0x80
		if err := os.WriteFile(flipped, b, 0o644); err != nil {
			t.Fatal(err)
		}

		tests := []struct {
			name   string
			args   []string
			ok     bool
			failed []string
		}{
			{"public key", []string{"--key", f.pub, signed}, true, nil},
			{"private key stands in for public", []string{"--key", f.key, signed}, true, nil},
			{"all requirements met", []string{"--key", f.pub, "--vendor", "acme.example", "--class", "sensor-v2", "--min-security-counter", "7", signed}, true, nil},
			{"raw vendor UUID", []string{"--key", f.pub, "--vendor", "0637e301-e05d-505b-8267-486f5677de9b", signed}, true, nil},
			{"wrong key", []string{"--key", f.other, signed}, false, []string{"keyhash", "signature"}},
			{"flipped payload byte", []string{"--key", f.pub, flipped}, false, []string{"sha256", "signature"}},
			{"downgrade", []string{"--key", f.pub, "--min-security-counter", "8", signed}, false, []string{"security-counter"}},
			{"other vendor", []string{"--key", f.pub, "--vendor", "other.example", signed}, false, []string{"vendor"}},
			{"other class", []string{"--key", f.pub, "--vendor", "acme.example", "--class", "sensor-v3", signed}, false, []string{"class"}},
			{"wrong CRC", []string{"--key", f.pub, "--crc32", "0x12345678", signed}, false, []string{"crc32"}},
			{"not an image", []string{"--key", f.pub, f.fw}, false, []string{"parse"}},
		}
		for _, tt := range tests {
			t.Run(alg+"/"+tt.name, func(t *testing.T) {
				out, err := runImage(t, append([]string{"verify"}, tt.args...)...)
				if tt.ok != (err == nil) {
					t.Fatalf("err = %v, want ok %v\n%s", err, tt.ok, out)
				}
				if err != nil && !errors.Is(err, errVerifyFailed) {
					t.Errorf("err = %v, want errVerifyFailed", err)
				}
				wantLast := "OK"
				if !tt.ok {
					wantLast = "FAILED"
				}
				if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != wantLast {
					t.Errorf("last line %q, want %q\n%s", lines[len(lines)-1], wantLast, out)
				}
				for _, name := range tt.failed {
					if !strings.Contains(out, "FAIL  "+name) {
						t.Errorf("no FAIL line for %s:\n%s", name, out)
					}
				}
				if got := strings.Count(out, "FAIL  "); got != len(tt.failed) {
					t.Errorf("%d FAIL lines, want %d:\n%s", got, len(tt.failed), out)
				}

				jout, jerr := runImage(t, append([]string{"verify", "--json"}, tt.args...)...)
				if (jerr == nil) != (err == nil) {
					t.Errorf("--json err = %v, text err = %v", jerr, err)
				}
				var v verifyJSONOut
				if err := json.Unmarshal([]byte(jout), &v); err != nil {
					t.Fatalf("--json output: %v\n%s", err, jout)
				}
				if v.OK != tt.ok || len(v.Checks) != 9 || !strings.HasPrefix(v.CRC32, "0x") {
					t.Errorf("--json: ok %v, %d checks, crc32 %q", v.OK, len(v.Checks), v.CRC32)
				}
				for _, name := range tt.failed {
					if v.status(name) != "fail" {
						t.Errorf("--json: %s is %q, want fail", name, v.status(name))
					}
				}
			})
		}
	}
}

func TestImageSignOptions(t *testing.T) {
	f := newFixture(t, "ed25519")
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, img *image.Image)
		wantErr string
	}{
		{"auto security counter", []string{"--version", "3.4.5+6", "--security-counter", "auto"}, func(t *testing.T, img *image.Image) {
			if n, ok, _ := img.SecurityCounter(); !ok || n != 3<<24|4<<16|5 {
				t.Errorf("security counter %d, %v", n, ok)
			}
		}, ""},
		{"hex header size and load address", []string{"--version", "1", "-H", "0x80", "-L", "0x20000000"}, func(t *testing.T, img *image.Image) {
			if img.HeaderSize != 0x80 || img.LoadAddr != 0x20000000 || img.Flags != image.FlagRAMLoad {
				t.Errorf("header %+v", img.Header)
			}
		}, ""},
		{"class by raw UUID without vendor", []string{"--version", "1", "--class", "a269d48e69875cc6becc22065907d317"}, func(t *testing.T, img *image.Image) {
			if u, ok, _ := img.ClassID(); !ok || u.String() != "a269d48e-6987-5cc6-becc-22065907d317" {
				t.Errorf("class %v, %v", u, ok)
			}
		}, ""},
		{"bad version", []string{"--version", "1.2.3.4"}, nil, "--version"},
		{"missing version", []string{}, nil, "version"},
		{"bad counter", []string{"--version", "1", "--security-counter", "-1"}, nil, "--security-counter"},
		{"header too small", []string{"--version", "1", "--header-size", "16"}, nil, "--header-size"},
		{"class name without vendor", []string{"--version", "1", "--class", "sensor"}, nil, "--class"},
		{"public key cannot sign", []string{"--version", "1", "--key", f.pub}, nil, "no PRIVATE KEY"},
		{"missing input", []string{"--version", "1", "--key", f.key, f.path("nope.bin")}, nil, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := f.path(strings.ReplaceAll(tt.name, " ", "_") + ".img")
			args := append([]string{"sign"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--key") {
				args = append(args, "--key", f.key)
			}
			if !strings.Contains(strings.Join(tt.args, " "), ".bin") {
				args = append(args, f.fw)
			}
			args = append(args, out)
			_, err := runImage(t, args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			img, err := image.Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, img)
		})
	}
}

func TestImageInspect(t *testing.T) {
	f := newFixture(t, "ecdsa-p256")
	signed := f.path("fw.signed")
	mustRunImage(t, "sign", "--key", f.key, "--version", "2.0.1", "--security-counter", "12",
		"--vendor", "acme.example", "--class", "sensor-v2", f.fw, signed)

	text := mustRunImage(t, "inspect", signed)
	for _, want := range []string{
		"magic:                 0x96f3b83d",
		"header size:           512 (0x200)",
		"image size:            3000 (0xbb8)",
		"protected TLV size:    52 (0x34)",
		"version:               2.0.1",
		"crc32:                 0x",
		"SEC_CNT      0x50",
		"12\n",
		"UUID_VID     0x74",
		"0637e301-e05d-505b-8267-486f5677de9b",
		"UUID_CID     0x75",
		"a269d48e-6987-5cc6-becc-22065907d317",
		"SHA256       0x10",
		"KEYHASH      0x01",
		"ECDSA_SIG    0x22",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, text)
		}
	}

	var info struct {
		FileSize         int    `json:"file_size"`
		CRC32            string `json:"crc32"`
		HeaderSize       int    `json:"header_size"`
		ImageSize        int    `json:"image_size"`
		ProtectedTLVSize int    `json:"protected_tlv_size"`
		Version          string `json:"version"`
		TLVOffset        int    `json:"tlv_offset"`
		ImageLen         int    `json:"image_len"`
		SHA256           string `json:"sha256"`
		Protected        []struct {
			Type    string `json:"type"`
			Len     int    `json:"len"`
			Decoded string `json:"decoded"`
		} `json:"protected_tlvs"`
		Unprotected []struct {
			Type string `json:"type"`
		} `json:"unprotected_tlvs"`
	}
	jout := mustRunImage(t, "inspect", "--json", signed)
	if err := json.Unmarshal([]byte(jout), &info); err != nil {
		t.Fatalf("%v\n%s", err, jout)
	}
	b, _ := os.ReadFile(signed)
	img, err := image.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if info.FileSize != len(b) || info.ImageLen != len(b) || info.HeaderSize != 0x200 || info.ImageSize != 3000 ||
		info.ProtectedTLVSize != 52 || info.Version != "2.0.1" || info.TLVOffset != 0x200+3000 || len(info.SHA256) != 64 {
		t.Errorf("inspect --json = %+v", info)
	}
	if len(info.Protected) != 3 || info.Protected[0].Decoded != "12" || info.Protected[1].Decoded != "0637e301-e05d-505b-8267-486f5677de9b" {
		t.Errorf("protected TLVs = %+v", info.Protected)
	}
	if len(info.Unprotected) != len(img.Unprotected) || info.Unprotected[2].Type != "ECDSA_SIG" {
		t.Errorf("unprotected TLVs = %+v", info.Unprotected)
	}

	// A slot dump: the image followed by erased flash.
	slot := f.path("slot.bin")
	if err := os.WriteFile(slot, append(b, bytes.Repeat([]byte{0xff}, 100)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runImage(t, "inspect", slot); err == nil {
		t.Error("inspect accepted trailing bytes without --slot")
	}
	if out := mustRunImage(t, "inspect", "--slot", slot); !strings.Contains(out, "(+100 trailing bytes)") {
		t.Errorf("inspect --slot:\n%s", out)
	}
	mustRunImage(t, "verify", "--slot", "--key", f.pub, slot)

	if _, err := runImage(t, "inspect", f.fw); err == nil || !strings.Contains(err.Error(), "ih_magic") {
		t.Errorf("inspect of a raw binary: %v", err)
	}
}
