package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/lorafuota/lorafuota/api/lorafuotapb"
)

// inventoryPage is how many entries inventory asks for at a time.
const inventoryPage = 1000

func newInventoryCmd() *cobra.Command {
	var (
		conn   clientFlags
		limit  uint32
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "List the fleet inventory: what firmware and hardware each device last reported",
		Example: `  lorafuota inventory
  lorafuota inventory --json | jq -r 'select(.firmware_version < 3) | .dev_eui'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := conn.dial(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			out := cmd.OutOrStdout()
			var printed uint32
			cursor := uint64(0)
			for {
				req := &lorafuotapb.ListInventoryRequest{Cursor: cursor, Limit: inventoryPage}
				if limit > 0 {
					req.Limit = min(inventoryPage, limit-printed)
				}
				ctx, cancel := c.call(cmd.Context())
				resp, err := c.ListInventory(ctx, req)
				cancel()
				if err != nil {
					return c.fail("ListInventory", err)
				}
				if !asJSON && cursor == 0 {
					fmt.Fprintf(out, "%-16s  %8s  %8s  %-20s  %s\n", "DEV_EUI", "FIRMWARE", "HARDWARE", "SEEN", "SOURCE")
				}
				for _, e := range resp.GetEntries() {
					if limit > 0 && printed >= limit {
						return nil
					}
					if err := writeInventoryEntry(out, e, asJSON); err != nil {
						return err
					}
					printed++
				}
				next := resp.GetNextCursor()
				if next == 0 || (limit > 0 && printed >= limit) {
					return nil
				}
				if next == cursor {
					return fmt.Errorf("ListInventory: the server returned cursor %d again", cursor)
				}
				cursor = next
			}
		},
	}
	conn.register(cmd)
	cmd.Flags().Uint32Var(&limit, "limit", 0, "most devices to list (0: all)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one protojson InventoryEntry a line")
	return cmd
}

func writeInventoryEntry(w io.Writer, e *lorafuotapb.InventoryEntry, asJSON bool) error {
	if asJSON {
		return writeProto(w, e, true)
	}
	_, err := fmt.Fprintf(w, "%-16s  %8d  %8d  %-20s  %s\n", e.GetDevEui(), e.GetFirmwareVersion(),
		e.GetHardwareVersion(), formatTime(e.GetSeenAt()), dash(e.GetSource()))
	return err
}
