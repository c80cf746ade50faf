package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// readPassword turns the terminal's echo off, then prints prompt and reads
// one line. x/term's ReadPassword turns echo off only after the prompt is
// out, so a password typed or pasted the moment the prompt shows could be
// echoed; hence termios by hand. When ctx ends (Ctrl-C) it gives up at
// once, with the terminal's echo back on.
func readPassword(ctx context.Context, tty *os.File, w io.Writer, prompt string) (string, error) {
	fd := int(tty.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	fmt.Fprint(w, prompt)
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	// The read cannot be interrupted; on cancellation it is left
	// behind, and the process exits soon after.
	go func() {
		line, err := bufio.NewReader(tty).ReadString('\n')
		got <- answer{line, err}
	}()
	select {
	case a := <-got:
		fmt.Fprintln(w)
		if a.err != nil && a.line == "" {
			return "", a.err
		}
		return strings.TrimRight(a.line, "\r\n"), nil
	case <-ctx.Done():
		fmt.Fprintln(w)
		return "", ctx.Err()
	}
}
