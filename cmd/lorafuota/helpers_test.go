package main

import (
	"bytes"
	"strings"
	"testing"
)

// execute runs the root command, fresh, with args and stdin, and returns what
// it wrote to standard output and standard error, and its error. Every
// command's tests go through it, so they run the command as a user would.
func execute(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}
