package bot

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"
)

// TestReadMessageReusesItsBuffer sends messages of falling and rising sizes
// through a real websocket: each read returns exactly its message, never
// what an earlier, longer one left in the buffer, and a buffer grown past
// keptBuffer is not kept for the next message.
func TestReadMessageReusesItsBuffer(t *testing.T) {
	msgs := []string{
		strings.Repeat("a", 3000),
		"short",
		strings.Repeat("b", keptBuffer+1000),
		"x",
		strings.Repeat("c", 10),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := websocket.Upgrader{}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		defer c.Close()
		for _, m := range msgs {
			if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
				t.Errorf("write: %v", err)
				return
			}
		}
		// Wait for the client to hang up.
		_, _, _ = c.ReadMessage()
	}))
	defer srv.Close()

	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	defer conn.Close()

	var buf bytes.Buffer
	for i, want := range msgs {
		got, err := readMessage(conn, &buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(got) != want {
			t.Fatalf("message %d: got %d bytes (%.20q…), want %d bytes", i, len(got), got, len(want))
		}
		if i == 3 && buf.Cap() > keptBuffer {
			t.Fatalf("after a %d-byte message the buffer kept %d bytes for a 1-byte one", len(msgs[2]), buf.Cap())
		}
	}
}
