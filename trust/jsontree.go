package trust

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// node is a JSON value with the byte offset where it starts, so that an
// error names the line of the offending field. encoding/json's Unmarshal
// does not say where a field was, nor reject duplicate keys, which
// containers/image does.
type node struct {
	offset int64
	// kind is one of "object", "array", "string", "number", "bool",
	// "null".
	kind string
	keys []string // object keys in order
	vals []*node  // object values, or array elements
	str  string
	b    bool
}

func (n *node) field(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// parseTree reads one JSON document. Duplicate object keys are an error.
func parseTree(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := readNode(dec, data)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &syntaxError{offset: dec.InputOffset(), msg: "data after the JSON document"}
	}
	return n, nil
}

type syntaxError struct {
	offset int64
	msg    string
}

func (e *syntaxError) Error() string { return e.msg }

// valueStart skips whitespace and separators after off, to where the next
// value begins.
func valueStart(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n,:", data[off]) >= 0 {
		off++
	}
	return off
}

func readNode(dec *json.Decoder, data []byte) (*node, error) {
	start := valueStart(data, dec.InputOffset())
	tok, err := dec.Token()
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, &syntaxError{offset: se.Offset, msg: se.Error()}
		}
		if err == io.EOF {
			return nil, &syntaxError{offset: int64(len(data)), msg: "unexpected end of JSON input"}
		}
		return nil, &syntaxError{offset: start, msg: err.Error()}
	}
	n := &node{offset: start}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n.kind = "object"
			for dec.More() {
				kstart := valueStart(data, dec.InputOffset())
				kt, err := dec.Token()
				if err != nil {
					return nil, &syntaxError{offset: kstart, msg: err.Error()}
				}
				key := kt.(string)
				if n.field(key) != nil {
					return nil, &syntaxError{offset: kstart, msg: fmt.Sprintf("duplicate field %q", key)}
				}
				v, err := readNode(dec, data)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.vals = append(n.vals, v)
			}
		case '[':
			n.kind = "array"
			for dec.More() {
				v, err := readNode(dec, data)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, &syntaxError{offset: dec.InputOffset(), msg: err.Error()}
		}
	case string:
		n.kind, n.str = "string", t
	case json.Number:
		n.kind, n.str = "number", t.String()
	case bool:
		n.kind, n.b = "bool", t
	case nil:
		n.kind = "null"
	}
	return n, nil
}

// lineOf is the 1-based line of offset in data.
func lineOf(data []byte, offset int64) int {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}
