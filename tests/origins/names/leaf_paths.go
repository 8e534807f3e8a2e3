// Reads a JSON list of form bodies on stdin and prints, for each, the keys url.ParseQuery (what net/http's
// Request.ParseForm uses for a form body) stores the value "V" under; Go keeps names flat.
package main

import (
	"encoding/json"
	"net/url"
	"os"
	"runtime"
)

func main() {
	var bodies []string
	if err := json.NewDecoder(os.Stdin).Decode(&bodies); err != nil {
		panic(err)
	}
	paths := make([][][]string, len(bodies))
	for i, body := range bodies {
		paths[i] = [][]string{}
		values, _ := url.ParseQuery(body)
		for key, vs := range values {
			for _, v := range vs {
				if v == "V" {
					paths[i] = append(paths[i], []string{key})
				}
			}
		}
	}
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{"paths": paths, "version": runtime.Version()})
}
