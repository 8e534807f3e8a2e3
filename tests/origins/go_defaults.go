// Go net/http with its DEFAULTS, unguarded: r.ParseMultipartForm (what r.FormValue calls: the urlencoded body
// of a POST, PUT or PATCH, or a multipart one), whatever the media type. Answers the canonical JSON
// (common.py) plus "view" (the media type, framing and body size Go saw) and "reads_as".
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
)

type view struct {
	MediaType string `json:"media_type"`
	Length    *int64 `json:"length"`
	Chunked   bool   `json:"chunked"`
	BodyBytes int    `json:"body_bytes"`
}

type counter struct {
	r io.ReadCloser
	n int
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func (c *counter) Close() error { return c.r.Close() }

func reply(w http.ResponseWriter, status int, body interface{}) {
	data, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(data)
}

func handle(w http.ResponseWriter, r *http.Request) {
	body := &counter{r: r.Body}
	r.Body = body
	v := view{}
	if r.ContentLength >= 0 {
		length := r.ContentLength
		v.Length = &length
	}
	for _, te := range r.TransferEncoding {
		v.Chunked = v.Chunked || strings.EqualFold(te, "chunked")
	}
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	v.MediaType = media
	fields := [][]interface{}{}
	files := [][]interface{}{}
	readsAs := ""
	err := r.ParseMultipartForm(32 << 20)
	if err != nil && err != http.ErrNotMultipart {
		io.Copy(io.Discard, r.Body)
		v.BodyBytes = body.n
		reply(w, 400, map[string]interface{}{"error": err.Error(), "view": v})
		return
	}
	for k, vs := range r.PostForm {
		for _, value := range vs {
			fields = append(fields, []interface{}{[]string{k}, value})
		}
	}
	if r.MultipartForm != nil {
		readsAs = "multipart"
		for k, fhs := range r.MultipartForm.File {
			for _, fh := range fhs {
				f, err := fh.Open()
				content := []byte{}
				if err == nil {
					content, _ = io.ReadAll(f)
					f.Close()
				}
				files = append(files, []interface{}{[]string{k}, fh.Filename, strings.ToValidUTF8(string(content), "\uFFFD")})
			}
		}
		r.MultipartForm.RemoveAll()
	} else if media == "application/x-www-form-urlencoded" {
		readsAs = "form"
	}
	var rest bytes.Buffer
	io.Copy(&rest, r.Body)
	v.BodyBytes = body.n
	reply(w, 200, map[string]interface{}{"fields": fields, "files": files, "view": v, "reads_as": readsAs})
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
