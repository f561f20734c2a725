package main

import (
	"bytes"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runFrag runs `frag args...` with stdin and returns stdout, stderr and the
// error.
func runFrag(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	return execute(t, stdin, append([]string{"frag"}, args...)...)
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "image.bin")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestFragEncodeDecode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 4321)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	file := writeTemp(t, data)
	for _, matrix := range []string{"v1", "v2"} {
		out, info, err := runFrag(t, "", "encode", "--fragment-size", "50", "--redundancy", "30%", "--matrix", matrix, file)
		if err != nil {
			t.Fatal(err)
		}
		// 4321 B = 87 fragments of 50 B, 29 B of padding; 30 % = 27.
		if want := "nb-frag 87 fragment-size 50 padding 29 redundancy 27 matrix " + matrix; !strings.Contains(info, want) {
			t.Fatalf("stderr %q, want %q", info, want)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 87+27 || !strings.HasPrefix(lines[0], "1 ") || !strings.HasPrefix(lines[113], "114 ") {
			t.Fatalf("%d lines, first %q", len(lines), lines[0])
		}
		// Lose 15 %, shuffle, repeat a few.
		var kept []string
		for _, l := range lines {
			if rng.Float64() >= 0.15 {
				kept = append(kept, l)
			}
		}
		kept = append(kept, kept[:5]...)
		rng.Shuffle(len(kept), func(i, j int) { kept[i], kept[j] = kept[j], kept[i] })
		stdin := "# fragments\n\n" + strings.Join(kept, "\n") + "\n"
		got, _, err := runFrag(t, stdin, "decode", "--nb-frag", "87", "--fragment-size", "50", "--padding", "29", "--matrix", matrix)
		if err != nil {
			t.Fatalf("%s: %v", matrix, err)
		}
		if got != string(data) {
			t.Fatalf("%s: decoded %d bytes, differ from the input", matrix, len(got))
		}
	}
}

func TestFragDecodeErrors(t *testing.T) {
	data := bytes.Repeat([]byte{1, 2, 3, 4, 5}, 40) // 20 fragments of 10 B
	out, _, err := runFrag(t, "", "encode", "--fragment-size", "10", "--redundancy", "10", writeTemp(t, data))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	decode := []string{"decode", "--nb-frag", "20", "--fragment-size", "10"}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"missing", strings.Join(lines[:15], "\n"), nil, "need at least 5 more fragments"},
		{"lmax", strings.Join(append(lines[:14], lines[20:]...), "\n"), []string{"--max-lost", "3"}, "Lmax exceeded"},
		{"bad hex", lines[0] + "\n2 zz\n", nil, "line 2: payload"},
		{"bad counter", "x 00\n", nil, "line 1: fragment counter"},
		{"no payload", lines[0] + "\n\n7\n", nil, "line 3: want \"N HEX\""},
		{"wrong length", "1 0011\n", nil, "line 1: fragmentation: invalid fragment: fragment 1 has 2 bytes"},
		{"counter range", "0 00112233445566778899\n", nil, "line 1: fragmentation: invalid fragment: counter N 0"},
		{"bad matrix", "", []string{"--matrix", "v3"}, "--matrix"},
		{"bad padding", "", []string{"--padding", "10"}, "padding 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runFrag(t, tc.stdin, append(decode, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("wrote %d bytes on failure", len(out))
			}
		})
	}
}

func TestFragEncodeErrors(t *testing.T) {
	file := writeTemp(t, make([]byte, 100))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"encode", "--fragment-size", "300", file}, "1..255"},
		{[]string{"encode", "--fragment-size", "0", file}, "1..255"},
		{[]string{"encode", "--fragment-size", "1", "--redundancy", "16300", file}, "16383"},
		{[]string{"encode", "--fragment-size", "10", "--redundancy", "x", file}, "--redundancy"},
		{[]string{"encode", "--fragment-size", "10", filepath.Join(t.TempDir(), "none")}, "no such file"},
		{[]string{"encode", "--fragment-size", "10", writeTemp(t, nil)}, "no data"},
	}
	for _, tc := range tests {
		if _, _, err := runFrag(t, "", tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestFragCurve(t *testing.T) {
	pngFile := filepath.Join(t.TempDir(), "curve.png")
	out, _, err := runFrag(t, "", "curve", "--nb-frag", "200", "--redundancy", "30%", "--loss", "0,10%,0.2,40%",
		"--trials", "30", "--seed", "3", "--png", pngFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.Contains(lines[0], "NbFrag 200, redundancy 60 (30.0%)") {
		t.Fatalf("output:\n%s", out)
	}
	if f := strings.Fields(lines[2]); f[0] != "0.0%" || f[1] != "100.0%" || f[2] != "0.00" {
		t.Errorf("no-loss row %q", lines[2])
	}
	if f := strings.Fields(lines[5]); f[0] != "40.0%" || f[1] != "0.0%" || f[2] != "-" {
		t.Errorf("40%% row %q: 60 parity fragments cannot replace 80 lost", lines[5])
	}
	again, _, err := runFrag(t, "", "curve", "--nb-frag", "200", "--redundancy", "60", "--loss", "0,0.1,0.2,0.4", "--trials", "30", "--seed", "3")
	if err != nil || again != out {
		t.Errorf("same seed, different output (%v):\n%s", err, again)
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != chartW || b.Dy() != chartH {
		t.Errorf("image %v", b)
	}
	for _, args := range [][]string{
		{"curve", "--nb-frag", "200", "--redundancy", "10", "--loss", "1.5"},
		{"curve", "--nb-frag", "200", "--redundancy", "10", "--trials", "0"},
		{"curve", "--nb-frag", "0", "--redundancy", "10"},
	} {
		if _, _, err := runFrag(t, "", args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
