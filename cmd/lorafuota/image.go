package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/image"
)

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Make signing keys, and sign, verify and inspect MCUboot firmware images",
		Long: `Work with MCUboot firmware images as imgtool writes them: a 32-byte header padded
to --header-size, the payload, a protected TLV area (security counter, vendor and
class UUIDs) covered by the SHA-256, and an unprotected TLV area with the SHA-256,
the KEYHASH and an Ed25519 or ECDSA P-256 signature. Keys are PEM files as imgtool
writes them: PKCS#8 private keys and SubjectPublicKeyInfo public keys.`,
	}
	cmd.AddCommand(newImageKeygenCmd(), newImageSignCmd(), newImageVerifyCmd(), newImageInspectCmd())
	return cmd
}

func newImageKeygenCmd() *cobra.Command {
	var typ, output, public string
	cmd := &cobra.Command{
		Use:   "keygen --type ed25519|ecdsa-p256 -o KEY.pem [--public PUB.pem]",
		Short: "Generate a signing key",
		Long: `Generate a private key and write it as unencrypted PKCS#8 PEM (mode 0600), as
imgtool keygen does; with --public also write its public key. Existing files are
not overwritten.`,
		Example: `  lorafuota image keygen --type ed25519 -o signing.pem --public signing.pub.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			key, err := image.GenerateKey(image.Algorithm(typ), nil)
			if err != nil {
				return err
			}
			priv, err := image.MarshalPrivateKeyPEM(key)
			if err != nil {
				return err
			}
			if err := writeNewFile(output, priv, 0o600); err != nil {
				return err
			}
			if public != "" {
				pub, err := image.MarshalPublicKeyPEM(key)
				if err != nil {
					return err
				}
				if err := writeNewFile(public, pub, 0o644); err != nil {
					return err
				}
			}
			kh, err := image.KeyHash(key)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s key written to %s; KEYHASH %x\n", typ, output, kh)
			return err
		},
	}
	cmd.Flags().StringVarP(&typ, "type", "t", string(image.Ed25519), "key type: ed25519 or ecdsa-p256")
	cmd.Flags().StringVarP(&output, "output", "o", "", "private key file to write (required)")
	cmd.Flags().StringVar(&public, "public", "", "also write the public key to this file")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// writeNewFile refuses to replace an existing file: losing a signing key is
// not recoverable.
func writeNewFile(name string, b []byte, perm os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// uuidFlags resolves --vendor and --class as imgtool resolves --vid and --cid.
type uuidFlags struct{ vendor, class string }

func (u *uuidFlags) register(cmd *cobra.Command, verb string) {
	cmd.Flags().StringVar(&u.vendor, "vendor", "", verb+" vendor: a UUID, or a name (its domain) hashed as imgtool --vid does")
	cmd.Flags().StringVar(&u.class, "class", "", verb+" device class: a UUID, or a name hashed under the vendor UUID as imgtool --cid does")
}

func (u *uuidFlags) resolve() (vendor, class *image.UUID, err error) {
	if u.vendor != "" {
		v, err := image.VendorUUID(u.vendor)
		if err != nil {
			return nil, nil, fmt.Errorf("--vendor: %w", err)
		}
		vendor = &v
	}
	if u.class != "" {
		c, err := image.ClassUUID(vendor, u.class)
		if err != nil {
			return nil, nil, fmt.Errorf("--class: %w", err)
		}
		class = &c
	}
	return vendor, class, nil
}

func newImageSignCmd() *cobra.Command {
	var (
		keyFile, version, secCnt, headerSize, loadAddr string
		ids                                            uuidFlags
	)
	cmd := &cobra.Command{
		Use:   "sign --key KEY.pem --version 1.2.3+4 [flags] INPUT.bin OUTPUT",
		Short: "Wrap a raw firmware binary in a signed MCUboot image",
		Long: `Wrap a raw binary in an MCUboot image and sign it, as
'imgtool sign --pad-header' does: the header is padded to --header-size with 0xff,
the security counter, vendor and class go into the protected TLV area, and the
SHA-256, KEYHASH and signature into the unprotected one.`,
		Example: `  lorafuota image sign --key signing.pem --version 1.2.3+4 --security-counter 7 \
      --vendor acme.example --class sensor-v2 zephyr.bin zephyr.signed.bin`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			opts := image.SignOptions{}
			var err error
			if opts.Version, err = image.ParseVersion(version); err != nil {
				return fmt.Errorf("--version: %w", err)
			}
			if secCnt != "" {
				n, err := parseSecurityCounter(secCnt, opts.Version)
				if err != nil {
					return err
				}
				opts.SecurityCounter = &n
			}
			if opts.VendorID, opts.ClassID, err = ids.resolve(); err != nil {
				return err
			}
			hs, err := strconv.ParseUint(headerSize, 0, 16)
			if err != nil || hs < image.HeaderLen {
				return fmt.Errorf("--header-size %q: want a number from %d to 65535 (0x prefix for hex)", headerSize, image.HeaderLen)
			}
			opts.HeaderSize = uint16(hs)
			if loadAddr != "" {
				la, err := strconv.ParseUint(loadAddr, 0, 32)
				if err != nil {
					return fmt.Errorf("--load-addr %q: want a 32-bit address: %w", loadAddr, err)
				}
				opts.LoadAddr = uint32(la)
			}
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			if opts.Key, err = image.ParsePrivateKeyPEM(keyPEM); err != nil {
				return fmt.Errorf("--key %s: %w", keyFile, err)
			}
			payload, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			out, err := image.Sign(payload, opts)
			if err != nil {
				return err
			}
			if err := os.WriteFile(args[1], out, 0o644); err != nil {
				return err
			}
			img, err := image.Parse(out)
			if err != nil {
				return fmt.Errorf("signed image does not parse: %w", err)
			}
			digest := img.Digest()
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: version %v, %d bytes (payload %d), SHA-256 %x, CRC32 0x%08x\n",
				args[1], img.Version, len(out), len(payload), digest, crc32.ChecksumIEEE(out))
			return err
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "private key PEM (required)")
	cmd.Flags().StringVarP(&version, "version", "v", "", "image version major.minor.revision+build (required)")
	cmd.Flags().StringVarP(&secCnt, "security-counter", "s", "", "security counter to put in the protected TLVs; 'auto' derives it from the version as imgtool does")
	cmd.Flags().StringVarP(&headerSize, "header-size", "H", "0x200", "header size, the payload's offset")
	cmd.Flags().StringVarP(&loadAddr, "load-addr", "L", "", "RAM load address (sets the RAM_LOAD flag)")
	ids.register(cmd, "image's")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("version")
	return cmd
}

// parseSecurityCounter reads a number or "auto", which imgtool computes as
// major<<24 + minor<<16 + revision.
func parseSecurityCounter(s string, v image.Version) (uint32, error) {
	if strings.EqualFold(s, "auto") {
		return uint32(v.Major)<<24 | uint32(v.Minor)<<16 | uint32(v.Revision), nil
	}
	n, err := strconv.ParseUint(s, 0, 32)
	if err != nil {
		return 0, fmt.Errorf("--security-counter %q: want a 32-bit number or auto", s)
	}
	return uint32(n), nil
}

// errVerifyFailed is returned, after the report is printed, when a check fails,
// so the exit status is non-zero.
var errVerifyFailed = errors.New("image verification failed")

func newImageVerifyCmd() *cobra.Command {
	var (
		keyFile, minCnt, crc string
		ids                  uuidFlags
		asJSON, slot         bool
	)
	cmd := &cobra.Command{
		Use:   "verify --key KEY.pem [flags] IMAGE",
		Short: "Check an image's structure, hash, signature, security counter, vendor and class",
		Long: `Check an image as a device would before installing it and print each check:
CRC-32 of the file (shown, or compared with --crc32; it catches corruption, not
tampering), structure, allowed unprotected TLVs, SHA-256, KEYHASH, signature,
security counter (against --min-security-counter), vendor and class. The exit
status is 0 only if every check passes. --key takes a public key or a private key,
whose public half is used.`,
		Example: `  lorafuota image verify --key signing.pub.pem --vendor acme.example --class sensor-v2 \
      --min-security-counter 7 zephyr.signed.bin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			var opts image.VerifyOptions
			var err error
			if opts.VendorID, opts.ClassID, err = ids.resolve(); err != nil {
				return err
			}
			if minCnt != "" {
				n, err := strconv.ParseUint(minCnt, 0, 32)
				if err != nil {
					return fmt.Errorf("--min-security-counter %q: want a 32-bit number", minCnt)
				}
				opts.MinSecurityCounter = ptrTo(uint32(n))
			}
			if crc != "" {
				n, err := strconv.ParseUint(crc, 0, 32)
				if err != nil {
					return fmt.Errorf("--crc32 %q: want a 32-bit number (0x prefix for hex)", crc)
				}
				opts.CRC32 = ptrTo(uint32(n))
			}
			opts.Slot = slot
			keyPEM, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			pub, err := image.ParsePublicKeyPEM(keyPEM)
			if err != nil {
				return fmt.Errorf("--key %s: %w", keyFile, err)
			}
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			r := image.Verify(b, pub, opts)
			if asJSON {
				err = writeVerifyJSON(cmd.OutOrStdout(), args[0], r)
			} else {
				err = writeVerifyText(cmd.OutOrStdout(), args[0], r)
			}
			if err != nil {
				return err
			}
			if !r.OK() {
				var names []string
				for _, c := range r.Checks {
					if c.Status == image.Fail {
						names = append(names, c.Name)
					}
				}
				return fmt.Errorf("%w: %s: %s", errVerifyFailed, args[0], strings.Join(names, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&keyFile, "key", "k", "", "public or private key PEM (required)")
	cmd.Flags().StringVar(&minCnt, "min-security-counter", "", "reject images whose security counter is missing or below N")
	cmd.Flags().StringVar(&crc, "crc32", "", "expected CRC-32 of the whole file")
	cmd.Flags().BoolVar(&slot, "slot", false, "the file is a flash slot: ignore bytes after the image")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	ids.register(cmd, "required")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func ptrTo[T any](v T) *T { return &v }

func writeVerifyText(w io.Writer, file string, r *image.Report) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s:\n", file)
	for _, c := range r.Checks {
		fmt.Fprintf(&sb, "  %-4s  %-16s  %s\n", strings.ToUpper(string(c.Status)), c.Name, c.Detail)
	}
	if r.OK() {
		sb.WriteString("OK\n")
	} else {
		sb.WriteString("FAILED\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

type verifyJSON struct {
	File   string        `json:"file"`
	OK     bool          `json:"ok"`
	CRC32  string        `json:"crc32"`
	Checks []image.Check `json:"checks"`
}

func writeVerifyJSON(w io.Writer, file string, r *image.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(verifyJSON{File: file, OK: r.OK(), CRC32: fmt.Sprintf("0x%08x", r.CRC32), Checks: r.Checks})
}

func newImageInspectCmd() *cobra.Command {
	var asJSON, slot bool
	cmd := &cobra.Command{
		Use:   "inspect [--json] IMAGE",
		Short: "Print an image's header, TLVs and sizes",
		Long: `Print an image's header fields, both TLV areas entry by entry, its sizes, the
SHA-256 it hashes to and the CRC-32 of the whole file. Nothing is verified: see
'image verify'.`,
		Example: `  lorafuota image inspect zephyr.signed.bin
  lorafuota image inspect --json zephyr.signed.bin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			parse := image.Parse
			if slot {
				parse = image.ParseSlot
			}
			img, err := parse(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			info := newInspectJSON(args[0], b, img)
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			}
			return writeInspectText(cmd.OutOrStdout(), info)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&slot, "slot", false, "the file is a flash slot: ignore bytes after the image")
	return cmd
}

type inspectJSON struct {
	File             string    `json:"file"`
	FileSize         int       `json:"file_size"`
	CRC32            string    `json:"crc32"`
	Magic            string    `json:"magic"`
	LoadAddr         string    `json:"load_addr"`
	HeaderSize       int       `json:"header_size"`
	ProtectedTLVSize int       `json:"protected_tlv_size"`
	ImageSize        int       `json:"image_size"`
	Flags            string    `json:"flags"`
	FlagNames        []string  `json:"flag_names"`
	Version          string    `json:"version"`
	TLVOffset        int       `json:"tlv_offset"`
	UnprotectedSize  int       `json:"unprotected_tlv_size"`
	ImageLen         int       `json:"image_len"`
	Trailing         int       `json:"trailing_bytes"`
	HashedSize       int       `json:"hashed_size"`
	SHA256           string    `json:"sha256"`
	Protected        []tlvJSON `json:"protected_tlvs"`
	Unprotected      []tlvJSON `json:"unprotected_tlvs"`
}

type tlvJSON struct {
	Offset int    `json:"offset"`
	Type   string `json:"type"`
	Code   string `json:"code"`
	Len    int    `json:"len"`
	Value  string `json:"value"`             // hex
	Text   string `json:"decoded,omitempty"` // for SEC_CNT and UUIDs
}

func newInspectJSON(file string, b []byte, img *image.Image) inspectJSON {
	digest := img.Digest()
	info := inspectJSON{
		File:             file,
		FileSize:         len(b),
		CRC32:            fmt.Sprintf("0x%08x", crc32.ChecksumIEEE(b)),
		Magic:            fmt.Sprintf("0x%08x", uint32(image.Magic)),
		LoadAddr:         fmt.Sprintf("0x%08x", img.LoadAddr),
		HeaderSize:       int(img.HeaderSize),
		ProtectedTLVSize: int(img.ProtectedTLVSize),
		ImageSize:        int(img.ImageSize),
		Flags:            fmt.Sprintf("0x%08x", img.Flags),
		FlagNames:        image.FlagNames(img.Flags),
		Version:          img.Version.String(),
		TLVOffset:        img.TLVOffset(),
		UnprotectedSize:  img.UnprotectedTLVSize(),
		ImageLen:         img.Len(),
		Trailing:         len(b) - img.Len(),
		HashedSize:       len(img.Hashed()),
		SHA256:           hex.EncodeToString(digest[:]),
		Protected:        tlvsJSON(img.Protected),
		Unprotected:      tlvsJSON(img.Unprotected),
	}
	if info.FlagNames == nil {
		info.FlagNames = []string{}
	}
	return info
}

func tlvsJSON(tlvs []image.TLV) []tlvJSON {
	out := make([]tlvJSON, 0, len(tlvs))
	for _, e := range tlvs {
		j := tlvJSON{
			Offset: e.Offset,
			Type:   e.Type.String(),
			Code:   fmt.Sprintf("0x%02x", uint16(e.Type)),
			Len:    len(e.Value),
			Value:  hex.EncodeToString(e.Value),
		}
		switch {
		case e.Type == image.TLVSecCnt && len(e.Value) == 4:
			j.Text = strconv.FormatUint(uint64(binary.LittleEndian.Uint32(e.Value)), 10)
		case (e.Type == image.TLVUUIDVID || e.Type == image.TLVUUIDCID) && len(e.Value) == 16:
			j.Text = image.UUID(e.Value).String()
		case e.Type == image.TLVPubKey:
			h := sha256.Sum256(e.Value)
			j.Text = "SHA-256 " + hex.EncodeToString(h[:])
		}
		out = append(out, j)
	}
	return out
}

func writeInspectText(w io.Writer, info inspectJSON) error {
	var sb strings.Builder
	row := func(name, format string, args ...any) {
		fmt.Fprintf(&sb, "%-22s %s\n", name+":", fmt.Sprintf(format, args...))
	}
	row("file", "%s (%d bytes)", info.File, info.FileSize)
	row("crc32", "%s (whole file)", info.CRC32)
	row("magic", "%s", info.Magic)
	row("load address", "%s", info.LoadAddr)
	row("header size", "%d (0x%x)", info.HeaderSize, info.HeaderSize)
	row("image size", "%d (0x%x)", info.ImageSize, info.ImageSize)
	row("protected TLV size", "%d (0x%x)", info.ProtectedTLVSize, info.ProtectedTLVSize)
	row("flags", "%s", strings.TrimSpace(info.Flags+" "+strings.Join(info.FlagNames, "|")))
	row("version", "%s", info.Version)
	row("TLV offset", "%d (0x%x)", info.TLVOffset, info.TLVOffset)
	row("unprotected TLV size", "%d (0x%x)", info.UnprotectedSize, info.UnprotectedSize)
	row("image length", "%d (+%d trailing bytes)", info.ImageLen, info.Trailing)
	row("sha256", "%s (over %d bytes: header, payload, protected TLVs)", info.SHA256, info.HashedSize)
	for _, area := range []struct {
		name string
		tlvs []tlvJSON
	}{{"protected TLVs", info.Protected}, {"unprotected TLVs", info.Unprotected}} {
		if len(area.tlvs) == 0 {
			fmt.Fprintf(&sb, "%s: none\n", area.name)
			continue
		}
		fmt.Fprintf(&sb, "%s:\n", area.name)
		for _, t := range area.tlvs {
			v := t.Value
			if t.Text != "" {
				v = t.Text
				if t.Type == image.TLVPubKey.String() {
					v = t.Value + " (" + t.Text + ")"
				}
			}
			fmt.Fprintf(&sb, "  @%-6d %-12s %-6s %4d  %s\n", t.Offset, t.Type, t.Code, t.Len, v)
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
