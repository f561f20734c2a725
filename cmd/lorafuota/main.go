// Command lorafuota is the LoRaWAN FUOTA application server for ChirpStack v4 and
// the simulator of the field it serves. Run `lorafuota --help` for the commands.
package main

import (
	"fmt"
	"os"
)

func main() {
	cmd := newRootCmd()
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "lorafuota:", err)
		os.Exit(1)
	}
}
