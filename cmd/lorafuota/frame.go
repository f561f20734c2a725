package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/applayer"
	"github.com/lorafuota/lorafuota/clocksync"
	"github.com/lorafuota/lorafuota/fragmentation"
	"github.com/lorafuota/lorafuota/fwmanagement"
	"github.com/lorafuota/lorafuota/multicast"
)

// frameCommand is one command of a frame as `frame decode` prints it and
// `frame encode` reads it.
type frameCommand struct {
	CID     *int            `json:"cid,omitempty"`
	Command string          `json:"command"`
	Fields  json.RawMessage `json:"fields,omitempty"`
}

// portFlags maps FPorts to the application-layer packages; each default is the
// package's own FPort and can be remapped, as devices are free to use other ports.
type portFlags struct {
	clocksync, fragmentation, multicast, fwmanagement uint8
}

func (p *portFlags) register(cmd *cobra.Command) {
	cmd.Flags().Uint8Var(&p.multicast, "port-multicast", multicast.Package().FPort, "FPort of TS005 remote multicast setup")
	cmd.Flags().Uint8Var(&p.fragmentation, "port-fragmentation", fragmentation.Package().FPort, "FPort of TS004 fragmented data block transport")
	cmd.Flags().Uint8Var(&p.clocksync, "port-clocksync", clocksync.Package().FPort, "FPort of TS003 clock synchronization")
	cmd.Flags().Uint8Var(&p.fwmanagement, "port-fwmanagement", fwmanagement.Package().FPort, "FPort of TS006 firmware management")
}

func (p *portFlags) lookup(fport uint8) (*applayer.Package, error) {
	byPort := []struct {
		port uint8
		pkg  func() *applayer.Package
	}{
		{p.multicast, multicast.Package},
		{p.fragmentation, fragmentation.Package},
		{p.clocksync, clocksync.Package},
		{p.fwmanagement, fwmanagement.Package},
	}
	var found *applayer.Package
	for _, e := range byPort {
		if e.port != fport {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("--fport %d: mapped to both %s and %s", fport, found.Name, e.pkg().Name)
		}
		found = e.pkg()
	}
	if found == nil {
		return nil, fmt.Errorf("--fport %d: no application-layer package on this port (multicast %d, fragmentation %d, clocksync %d, fwmanagement %d)",
			fport, p.multicast, p.fragmentation, p.clocksync, p.fwmanagement)
	}
	return found, nil
}

func newFrameCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "frame",
		Short: "Decode and encode application-layer frames (TS003, TS004, TS005, TS006)",
	}
	cmd.AddCommand(newFrameDecodeCmd(), newFrameEncodeCmd())
	return cmd
}

func newFrameDecodeCmd() *cobra.Command {
	var (
		ports            portFlags
		fport, version   uint8
		uplink, downlink string
		useBase64        bool
		compact          bool
	)
	cmd := &cobra.Command{
		Use:   "decode --fport N (--uplink DATA | --downlink DATA)",
		Short: "Print the commands of one frame as JSON",
		Long: `Decode the FRMPayload of one frame on an application-layer FPort and print its
commands as a JSON array of {"cid", "command", "fields"}. DATA is hex (spaces and
colons allowed) or, with --base64, base64 as ChirpStack events carry it.`,
		Example: `  lorafuota frame decode --fport 201 --downlink 02350102ff2c8101020304
  lorafuota frame decode --fport 201 --version 2 --uplink 0406`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (uplink == "") == (downlink == "") {
				return errors.New("give exactly one of --uplink and --downlink")
			}
			dir, data := applayer.Uplink, uplink
			if downlink != "" {
				dir, data = applayer.Downlink, downlink
			}
			frame, err := parseFrameData(data, useBase64)
			if err != nil {
				return err
			}
			pkg, err := ports.lookup(fport)
			if err != nil {
				return err
			}
			cmds, err := pkg.Decode(frame, dir, version)
			if err != nil {
				if len(cmds) > 0 {
					return fmt.Errorf("%w (after %d decoded commands)", err, len(cmds))
				}
				return err
			}
			return writeCommandsJSON(cmd.OutOrStdout(), cmds, compact)
		},
	}
	cmd.Flags().Uint8Var(&fport, "fport", 0, "FPort the frame was received on (required)")
	cmd.Flags().Uint8Var(&version, "version", 1, "package version the device speaks (1 or 2)")
	cmd.Flags().StringVar(&uplink, "uplink", "", "uplink FRMPayload (device to server)")
	cmd.Flags().StringVar(&downlink, "downlink", "", "downlink FRMPayload (server to device)")
	cmd.Flags().BoolVar(&useBase64, "base64", false, "DATA is base64, not hex")
	cmd.Flags().BoolVar(&compact, "compact", false, "print JSON on one line")
	_ = cmd.MarkFlagRequired("fport")
	ports.register(cmd)
	return cmd
}

func newFrameEncodeCmd() *cobra.Command {
	var (
		ports          portFlags
		fport, version uint8
	)
	cmd := &cobra.Command{
		Use:   "encode --fport N [JSON]",
		Short: "Encode commands given as JSON into one frame, printed as hex",
		Long: `Encode the JSON array that 'frame decode' prints (or a single object) into the
FRMPayload of one frame and print it as hex. The JSON comes from the argument or,
without one, from standard input. "cid" is optional; when given it must match.`,
		Example: `  lorafuota frame encode --fport 200 '[{"command":"McGroupDeleteReq","fields":{"mc_group_id":1}}]'
  lorafuota frame decode --fport 201 --downlink 0307 | lorafuota frame encode --fport 201`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var in []byte
			var err error
			if len(args) == 1 {
				in = []byte(args[0])
			} else if in, err = io.ReadAll(cmd.InOrStdin()); err != nil {
				return fmt.Errorf("read standard input: %w", err)
			}
			pkg, err := ports.lookup(fport)
			if err != nil {
				return err
			}
			cmds, err := commandsFromJSON(pkg, in, version)
			if err != nil {
				return err
			}
			b, err := pkg.Encode(cmds...)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), hex.EncodeToString(b))
			return err
		},
	}
	cmd.Flags().Uint8Var(&fport, "fport", 0, "FPort of the frame (required)")
	cmd.Flags().Uint8Var(&version, "version", 1, "package version the device speaks (1 or 2)")
	_ = cmd.MarkFlagRequired("fport")
	ports.register(cmd)
	return cmd
}

func parseFrameData(s string, useBase64 bool) ([]byte, error) {
	if useBase64 {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("frame data: invalid base64: %w", err)
		}
		return b, nil
	}
	clean := strings.NewReplacer(" ", "", ":", "", "\t", "").Replace(strings.TrimPrefix(strings.TrimSpace(s), "0x"))
	b, err := hex.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("frame data: invalid hex: %w", err)
	}
	return b, nil
}

func writeCommandsJSON(w io.Writer, cmds []applayer.Command, compact bool) error {
	out := make([]frameCommand, 0, len(cmds))
	for _, c := range cmds {
		fields, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name(), err)
		}
		cid := int(c.CID())
		out = append(out, frameCommand{CID: &cid, Command: c.Name(), Fields: fields})
	}
	enc := json.NewEncoder(w)
	if !compact {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(out)
}

// commandsFromJSON reads an array of frameCommand (or one object) and builds the
// commands, refusing unknown commands and unknown fields by name.
func commandsFromJSON(pkg *applayer.Package, in []byte, version uint8) ([]applayer.Command, error) {
	var list []frameCommand
	trimmed := strings.TrimSpace(string(in))
	if strings.HasPrefix(trimmed, "{") {
		var one frameCommand
		if err := strictUnmarshal([]byte(trimmed), &one); err != nil {
			return nil, fmt.Errorf("JSON: %w", err)
		}
		list = []frameCommand{one}
	} else if err := strictUnmarshal([]byte(trimmed), &list); err != nil {
		return nil, fmt.Errorf("JSON: %w", err)
	}
	if len(list) == 0 {
		return nil, errors.New("JSON: no commands")
	}
	cmds := make([]applayer.Command, 0, len(list))
	for i, fc := range list {
		spec, ok := pkg.LookupName(fc.Command, version)
		if !ok {
			return nil, fmt.Errorf("command %d: %q is not a %s (%s) command of version %d", i, fc.Command, pkg.Name, pkg.Spec, version)
		}
		if fc.CID != nil && *fc.CID != int(spec.CID) {
			return nil, fmt.Errorf("command %d (%s): cid %d, but %s has CID %d", i, fc.Command, *fc.CID, fc.Command, spec.CID)
		}
		c := spec.New(version)
		if len(fc.Fields) > 0 {
			if err := strictUnmarshal(fc.Fields, c); err != nil {
				return nil, fmt.Errorf("command %d (%s): fields: %w", i, fc.Command, err)
			}
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
