// The function's process of a Go container until the host sends `load`: the agent starts it
// before it knows the code (a spare container waits for code), so it reads that one line, keeps it
// for the function's binary in a file only this uid can read, and execs the binary, which the
// build put at <dir>/.faas-go/function. Protocol: images/agent/PROTOCOL.md.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
)

// The pipe to the agent: the agent passes its number (images/agent/python/agent.py).
func channelFd() uintptr {
	fd, err := strconv.Atoi(os.Getenv("FAAS_CHANNEL_FD"))
	if err != nil || fd < 3 {
		return 3
	}
	return uintptr(fd)
}

func fail(message string) {
	line, _ := json.Marshal(map[string]any{
		"t":     "load_failed",
		"error": map[string]any{"type": "LoadError", "message": message},
	})
	channel := os.NewFile(channelFd(), "channel")
	channel.Write(append(line, '\n'))
	// The host ends the container after a failed load: stay until it does (stdin closes).
	io.Copy(io.Discard, os.Stdin)
	os.Exit(1)
}

// readLine reads up to the first newline one byte at a time, so nothing after it is taken from
// stdin: the binary reads the invocations that follow.
func readLine() ([]byte, error) {
	var line []byte
	buf := make([]byte, 1)
	for {
		n, err := os.Stdin.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return line, nil
			}
			line = append(line, buf[0])
		}
		if err != nil {
			return nil, err
		}
	}
}

func main() {
	line, err := readLine()
	if err != nil {
		os.Exit(0)
	}
	var load struct {
		T   string `json:"t"`
		Dir string `json:"dir"`
	}
	if err := json.Unmarshal(line, &load); err != nil || load.T != "load" || load.Dir == "" {
		fail("the first message was not a load")
	}
	path := fmt.Sprintf("/tmp/.faas-load-%d", os.Getpid())
	if err := os.WriteFile(path, line, 0o600); err != nil {
		fail("keeping the load message failed: " + err.Error())
	}
	binary := load.Dir + "/.faas-go/function"
	env := append(os.Environ(), "FAAS_LOAD_FILE="+path)
	err = syscall.Exec(binary, []string{binary}, env)
	fail("starting the function's binary failed: " + err.Error())
}
