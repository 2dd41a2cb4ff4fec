// Records BuildKit's parse of Dockerfiles as JSON lines, in the shape of buildkit_parse.py's
// output plus what the PyPI wrapper does not expose: each heredoc's expand and chomp, the
// heredocs of an ONBUILD trigger, the parser's warnings, and the file's text (so that the test
// sees when a fixture changed after it was recorded).
//
// The wrapper vendors BuildKit v0.12.5; this records a newer BuildKit for the behaviour that came
// later (`<< EOF`, BuildKit 0.22). tests/oracle/buildkit-master.jsonl was made from moby/buildkit
// commit 73ed6825c (frontend/dockerfile/{parser,shell,command}); from the crate directory:
//
//	(cd tests/oracle/record_buildkit && go mod init record && go get github.com/moby/buildkit@73ed6825c)
//	go build -C tests/oracle/record_buildkit -o /tmp/record_buildkit .
//	/tmp/record_buildkit tests/fixtures/parser/*.Dockerfile tests/fixtures/parser/*/*.Dockerfile \
//	    > tests/oracle/buildkit-master.jsonl
//
// (It was built with Go 1.19 against a copy of those three packages, with sync.OnceValue,
// bytes.CutPrefix and slices.Reverse written out.) Paths are recorded as given: relative to the
// crate directory, as the test reads them.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type heredoc struct {
	Name           string `json:"name"`
	FileDescriptor uint   `json:"file_descriptor"`
	Expand         bool   `json:"expand"`
	Chomp          bool   `json:"chomp"`
	Content        string `json:"content"`
}

type command struct {
	Cmd       string    `json:"cmd"`
	SubCmd    *string   `json:"sub_cmd"`
	JSON      bool      `json:"json"`
	StartLine int       `json:"start_line"`
	EndLine   int       `json:"end_line"`
	Flags     []string  `json:"flags"`
	Value     []string  `json:"value"`
	Heredocs  []heredoc `json:"heredocs"`
}

type warning struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

type record struct {
	File     string    `json:"file"`
	Source   string    `json:"source"`
	Error    *string   `json:"error"`
	Commands []command `json:"commands"`
	Warnings []warning `json:"warnings"`
}

func main() {
	for _, path := range os.Args[1:] {
		source, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		rec := record{File: path, Source: string(source), Commands: []command{}, Warnings: []warning{}}
		result, err := parser.Parse(strings.NewReader(string(source)))
		if err != nil {
			message := err.Error()
			rec.Error = &message
		} else {
			for _, node := range result.AST.Children {
				rec.Commands = append(rec.Commands, view(node))
			}
			for _, w := range result.Warnings {
				rec.Warnings = append(rec.Warnings, warning{Line: w.Location.Start.Line, Message: w.Short})
			}
		}
		line, err := json.Marshal(rec)
		if err != nil {
			panic(err)
		}
		fmt.Println(string(line))
	}
}

// view is the wrapper's Command: an ONBUILD's value, json and sub_cmd are its trigger's.
func view(node *parser.Node) command {
	c := command{Cmd: node.Value, StartLine: node.StartLine, EndLine: node.EndLine, Flags: []string{}, Value: []string{}, Heredocs: []heredoc{}}
	c.Flags = append(c.Flags, node.Flags...)
	args := node
	if node.Next != nil && len(node.Next.Children) > 0 {
		args = node.Next.Children[0]
		sub := args.Value
		c.SubCmd = &sub
	}
	c.JSON = args.Attributes["json"]
	for n := args.Next; n != nil; n = n.Next {
		c.Value = append(c.Value, n.Value)
	}
	// Newer BuildKit adds a third node to each ENV and LABEL pair (its separator); the wrapper's
	// v0.12.5 has pairs.
	if kind := strings.ToLower(args.Value); kind == "env" || kind == "label" {
		pairs := []string{}
		for i, v := range c.Value {
			if i%3 != 2 {
				pairs = append(pairs, v)
			}
		}
		c.Value = pairs
	}
	for _, h := range node.Heredocs {
		c.Heredocs = append(c.Heredocs, heredoc{h.Name, h.FileDescriptor, h.Expand, h.Chomp, h.Content})
	}
	return c
}
