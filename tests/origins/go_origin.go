// Go net/http (stdlib only): r.ParseForm / r.ParseMultipartForm, JSON with encoding/json into
// interface{} (UseNumber). Canonical answer: see common.py (json.Marshal replaces invalid UTF-8).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
)

type answer struct {
	Fields [][]interface{} `json:"fields"`
	Files  [][]interface{} `json:"files"`
}

func walk(path []string, v interface{}, out *[][]interface{}) {
	switch x := v.(type) {
	case map[string]interface{}:
		for k, item := range x {
			walk(append(append([]string{}, path...), k), item, out)
		}
	case []interface{}:
		for i, item := range x {
			walk(append(append([]string{}, path...), fmt.Sprint(i)), item, out)
		}
	case string:
		*out = append(*out, []interface{}{path, x})
	default:
		b, _ := json.Marshal(x)
		*out = append(*out, []interface{}{path, string(b)})
	}
}

func reply(w http.ResponseWriter, status int, body interface{}) {
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(data)
}

func handle(w http.ResponseWriter, r *http.Request) {
	media, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		reply(w, 415, map[string]string{"error": err.Error()})
		return
	}
	out := answer{Fields: [][]interface{}{}, Files: [][]interface{}{}}
	switch media {
	case "application/json":
		var v interface{}
		dec := json.NewDecoder(r.Body)
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			reply(w, 400, map[string]string{"error": err.Error()})
			return
		}
		walk([]string{}, v, &out.Fields)
	case "multipart/form-data":
		if err := r.ParseMultipartForm(32 << 20); err != nil {
			reply(w, 400, map[string]string{"error": err.Error()})
			return
		}
		for k, vs := range r.MultipartForm.Value {
			for _, v := range vs {
				out.Fields = append(out.Fields, []interface{}{[]string{k}, v})
			}
		}
		for k, fhs := range r.MultipartForm.File {
			for _, fh := range fhs {
				f, err := fh.Open()
				content := []byte{}
				if err == nil {
					content, _ = io.ReadAll(f)
					f.Close()
				}
				out.Files = append(out.Files, []interface{}{[]string{k}, fh.Filename, strings.ToValidUTF8(string(content), "\uFFFD")})
			}
		}
		r.MultipartForm.RemoveAll()
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			reply(w, 400, map[string]string{"error": err.Error()})
			return
		}
		for k, vs := range r.PostForm {
			for _, v := range vs {
				out.Fields = append(out.Fields, []interface{}{[]string{k}, v})
			}
		}
	default:
		reply(w, 415, map[string]string{"error": "not read"})
		return
	}
	reply(w, 200, out)
}

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTENING %d\n", ln.Addr().(*net.TCPAddr).Port)
	os.Stdout.Sync()
	http.Serve(ln, http.HandlerFunc(handle))
}
