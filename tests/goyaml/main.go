// Copyright (c) auditops.deckhouse contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
// SPDX-License-Identifier: GPL-3.0-or-later

// goyaml reads each file named on the command line the way the kubelet and kubeadm read YAML
// (sigs.k8s.io/yaml: go-yaml v2, then JSON) and prints one JSON line per file:
// {"file": ..., "json": <the document as JSON>} or {"file": ..., "error": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

type answer struct {
	File  string          `json:"file"`
	JSON  json.RawMessage `json:"json,omitempty"`
	Error string          `json:"error,omitempty"`
}

func main() {
	out := json.NewEncoder(os.Stdout)
	for _, name := range os.Args[1:] {
		result := answer{File: name}
		data, err := os.ReadFile(name)
		if err == nil {
			var converted []byte
			converted, err = yaml.YAMLToJSON(data)
			if err == nil {
				result.JSON = converted
			}
		}
		if err != nil {
			result.Error = err.Error()
		}
		if err := out.Encode(result); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
