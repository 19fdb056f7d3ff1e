// The faas runner for Go functions, compiled into the function's binary at deploy beside the
// function's own files (package main) and a generated file that names the handler
// (zz_faas_handler.go: `var faasHandler = <Handler>`). It is the function's process: it reads the
// agent's messages on stdin, runs one invocation at a time and writes its messages on fd 3;
// stdout, stderr and the log package become the invocation's log lines. Standard library only.
// Protocol: images/agent/PROTOCOL.md.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	faasMaxErrorText    = 60 * 1024
	faasFlushMarkPrefix = "\x00faas-flush-"
)

type faasLimits struct {
	ResultBytes     int `json:"resultBytes"`
	LogMessageBytes int `json:"logMessageBytes"`
}

type faasInbound struct {
	T             string            `json:"t"`
	ID            *string           `json:"id"`
	Event         json.RawMessage   `json:"event"`
	EventEncoding string            `json:"eventEncoding"`
	Deadline      float64           `json:"deadline"`
	Dir           string            `json:"dir"`
	Env           map[string]string `json:"env"`
	Limits        *faasLimits       `json:"limits"`
	TraceID       string            `json:"traceId"`
	Traceparent   string            `json:"traceparent"`
}

// FaasTrace is the W3C trace context an invocation runs in. A handler reads it with
// FaasTraceFrom(ctx), and passes Traceparent on as the `traceparent` header of its outgoing
// requests so that they join the caller's trace.
type FaasTrace struct {
	// TraceID is the trace's id: 32 lowercase hex digits.
	TraceID string
	// Traceparent is the W3C header naming the span that called the function.
	Traceparent string
}

type faasTraceKey struct{}

// FaasTraceFrom is the trace context of the invocation ctx belongs to; ok is false when the call
// carried none and the platform does not trace.
func FaasTraceFrom(ctx context.Context) (trace FaasTrace, ok bool) {
	trace, ok = ctx.Value(faasTraceKey{}).(FaasTrace)
	return trace, ok
}

type faasError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Stack   string `json:"stack,omitempty"`
}

type faasRunner struct {
	channel *os.File
	mu      sync.Mutex
	limits  faasLimits
	// The running invocation's id; nil between invocations.
	current *string
	streams []*faasLogStream
}

func (r *faasRunner) sendRaw(line []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.channel.Write(line)
}

func (r *faasRunner) send(message any) {
	line, err := json.Marshal(message)
	if err != nil {
		return
	}
	r.sendRaw(append(line, '\n'))
}

func (r *faasRunner) currentID() *string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

func (r *faasRunner) setCurrent(id *string) {
	r.mu.Lock()
	r.current = id
	r.mu.Unlock()
}

func faasClip(text string, maxBytes int) string {
	if len(text) <= maxBytes {
		return text
	}
	cut := strings.ToValidUTF8(text[:maxBytes-64], "")
	return fmt.Sprintf("%s … [truncated %d bytes]", cut, len(text)-len(cut))
}

func (r *faasRunner) log(level, message string) {
	r.send(map[string]any{
		"t": "log", "id": r.currentID(), "level": level,
		"message": faasClip(strings.ToValidUTF8(message, "\uFFFD"), r.limits.LogMessageBytes),
	})
}

// faasLogStream turns what is written to one pipe into log lines. A flush writes a mark through
// the pipe and waits for it, so every line written before a result is sent before it, with the
// invocation's id.
type faasLogStream struct {
	runner *faasRunner
	level  string
	writer *os.File
	mark   string
	acks   chan struct{}
}

func (r *faasRunner) newLogStream(level string) *os.File {
	reader, writer, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	stream := &faasLogStream{runner: r, level: level, writer: writer,
		mark: fmt.Sprintf("%s%d-%s\x00", faasFlushMarkPrefix, time.Now().UnixNano(), level), acks: make(chan struct{})}
	r.streams = append(r.streams, stream)
	go stream.read(reader)
	return writer
}

func (s *faasLogStream) read(reader io.Reader) {
	buffered := bufio.NewReaderSize(reader, 64*1024)
	maxChars := s.runner.limits.LogMessageBytes / 4
	var line []byte
	for {
		chunk, isPrefix, err := buffered.ReadLine()
		if err != nil {
			return
		}
		line = append(line, chunk...)
		if isPrefix {
			// A long line is cut into log lines; its tail stays, so a flush mark is never split.
			if len(line) >= maxChars+len(s.mark) {
				cut := len(line) - len(s.mark)
				s.runner.log(s.level, string(line[:cut]))
				line = append(line[:0], line[cut:]...)
			}
			continue
		}
		text := string(line)
		line = line[:0]
		if strings.HasSuffix(text, s.mark) {
			if rest := strings.TrimSuffix(text, s.mark); rest != "" {
				s.runner.log(s.level, rest)
			}
			s.acks <- struct{}{}
			continue
		}
		s.runner.log(s.level, text)
	}
}

// flushLogs writes every stream's mark first and then waits for them: one round trip, not three.
func (r *faasRunner) flushLogs() {
	waiting := make([]*faasLogStream, 0, len(r.streams))
	for _, stream := range r.streams {
		// A stream the function closed has nothing more to say.
		if _, err := stream.writer.WriteString(stream.mark + "\n"); err == nil {
			waiting = append(waiting, stream)
		}
	}
	for _, stream := range waiting {
		<-stream.acks
	}
}

func (r *faasRunner) load(message faasInbound) {
	for key, value := range message.Env {
		os.Setenv(key, value)
	}
	if message.Limits != nil && message.Limits.ResultBytes > 0 && message.Limits.LogMessageBytes > 0 {
		r.limits = *message.Limits
	}
	if message.Dir != "" {
		if err := os.Chdir(message.Dir); err != nil {
			r.send(map[string]any{"t": "load_failed", "error": faasError{Type: "LoadError", Message: err.Error()}})
			return
		}
	}
	r.send(map[string]any{"t": "loaded"})
}

// call runs the handler; a panic is its failure, with the stack.
func (r *faasRunner) call(ctx context.Context, event json.RawMessage) (value any, err error, panicked *faasError) {
	defer func() {
		if recovered := recover(); recovered != nil {
			panicked = &faasError{Type: "panic", Message: fmt.Sprint(recovered), Stack: string(debug.Stack())}
		}
	}()
	value, err = faasHandler(ctx, event)
	return value, err, nil
}

func (r *faasRunner) fail(id string, failure faasError) {
	failure.Type = faasClip(failure.Type, 200)
	failure.Message = faasClip(strings.ToValidUTF8(failure.Message, "\uFFFD"), faasMaxErrorText)
	failure.Stack = faasClip(strings.ToValidUTF8(failure.Stack, "\uFFFD"), faasMaxErrorText)
	r.send(map[string]any{"t": "result", "id": id, "ok": false, "error": failure})
}

func (r *faasRunner) invoke(message faasInbound) {
	if message.ID == nil {
		return
	}
	id := *message.ID
	r.setCurrent(&id)
	defer r.setCurrent(nil)
	event := message.Event
	if len(event) == 0 {
		event = json.RawMessage("null")
	}
	// A binary event arrives as a JSON string of its base64, which json.Unmarshal decodes into a
	// []byte: it is passed on as that string.
	ctx, cancel := context.WithDeadline(context.Background(), time.UnixMilli(int64(message.Deadline)))
	if message.Traceparent != "" {
		ctx = context.WithValue(ctx, faasTraceKey{}, FaasTrace{TraceID: message.TraceID, Traceparent: message.Traceparent})
	}
	value, err, panicked := r.call(ctx, event)
	cancel()
	r.flushLogs()
	switch {
	case panicked != nil:
		r.fail(id, *panicked)
	case err != nil:
		r.fail(id, faasError{Type: "Error", Message: err.Error()})
	default:
		r.result(id, value)
	}
}

func (r *faasRunner) result(id string, value any) {
	limit := r.limits.ResultBytes
	if data, isBytes := value.([]byte); isBytes {
		if len(data) > limit {
			r.tooLarge(id, len(data), "")
			return
		}
		r.send(map[string]any{"t": "result", "id": id, "ok": true,
			"value": base64.StdEncoding.EncodeToString(data), "valueEncoding": "base64"})
		return
	}
	body, err := json.Marshal(value)
	if err != nil {
		r.fail(id, faasError{Type: "InvalidResult", Message: "The function's result is not JSON: " + err.Error()})
		return
	}
	if len(body) > limit {
		r.tooLarge(id, len(body), " of JSON")
		return
	}
	quotedID, _ := json.Marshal(id)
	line := make([]byte, 0, len(body)+len(quotedID)+40)
	line = append(line, `{"t":"result","id":`...)
	line = append(line, quotedID...)
	line = append(line, `,"ok":true,"value":`...)
	line = append(line, body...)
	line = append(line, "}\n"...)
	r.sendRaw(line)
}

func (r *faasRunner) tooLarge(id string, size int, what string) {
	r.fail(id, faasError{Type: "InvalidResult", Message: fmt.Sprintf(
		"The function's result is too large: %d bytes%s, the limit is %d bytes", size, what, r.limits.ResultBytes)})
}

// The pipe to the agent: the agent passes its number (the function can find it all the same).
func faasChannelFromEnv() uintptr {
	fd, err := strconv.Atoi(os.Getenv("FAAS_CHANNEL_FD"))
	if err != nil || fd < 3 {
		return 3
	}
	return uintptr(fd)
}

func main() {
	runner := &faasRunner{
		channel: os.NewFile(faasChannelFromEnv(), "faas-channel"),
		limits:  faasLimits{ResultBytes: 6 * 1024 * 1024, LogMessageBytes: 64 * 1024},
	}
	// The launcher kept the host's load message for this binary (images/agent/go/launcher).
	var first []byte
	if path := os.Getenv("FAAS_LOAD_FILE"); path != "" {
		first, _ = os.ReadFile(path)
		os.Remove(path)
		os.Unsetenv("FAAS_LOAD_FILE")
	}
	os.Unsetenv("FAAS_CHANNEL_FD")
	os.Stdout = runner.newLogStream("log")
	os.Stderr = runner.newLogStream("error")
	log.SetOutput(runner.newLogStream("info"))
	handle := func(line []byte) {
		var message faasInbound
		if err := json.Unmarshal(line, &message); err != nil {
			return
		}
		switch message.T {
		case "load":
			runner.load(message)
		case "invoke":
			runner.invoke(message)
		}
	}
	if len(first) > 0 {
		handle(first)
	}
	stdin := bufio.NewReaderSize(os.Stdin, 1024*1024)
	for {
		line, err := stdin.ReadBytes('\n')
		if len(line) > 0 {
			handle(line)
		}
		if err != nil {
			return
		}
	}
}
