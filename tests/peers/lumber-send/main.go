// lumber-send sends a fixed number of numbered events to a Lumberjack v2 server with Elastic's
// go-lumber client library, the one Filebeat's Logstash output is built on, and reports how
// many the server acknowledged.
//
// Each event carries `sender` (the -id flag) and `seq` (0..count-1) so that a test can check
// every event arrived exactly once. With -lines, the messages are the lines of a file (in order,
// from the start again when there are fewer lines than events), as Filebeat ships a log file;
// -field name=value (repeatable) adds Filebeat's custom `fields`. Exit status 0 means every
// event was acknowledged.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	v2 "github.com/elastic/go-lumber/client/v2"
)

// fieldFlags collects repeated -field name=value flags.
type fieldFlags map[string]interface{}

func (f fieldFlags) String() string { return fmt.Sprint(map[string]interface{}(f)) }

func (f fieldFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	f[name] = value
	return nil
}

func main() {
	fields := fieldFlags{}
	flag.Var(fields, "field", "name=value added under `fields` (repeatable)")
	linesFile := flag.String("lines", "", "file whose lines are the messages")
	addr := flag.String("addr", "127.0.0.1:5044", "server address")
	count := flag.Int("count", 1000, "events to send")
	batch := flag.Int("batch", 2048, "events per window")
	compress := flag.Int("compress", 3, "zlib level, 0 for no compression")
	id := flag.String("id", "s0", "sender id, written in every event's `sender` field")
	inflight := flag.Int("pipeline", 0, "windows in flight (async client); 0 waits for each ACK")
	timeout := flag.Duration("timeout", 30*time.Second, "network timeout")
	useTLS := flag.Bool("tls", false, "connect with TLS")
	ca := flag.String("ca", "", "CA certificate to verify the server with (TLS)")
	cert := flag.String("cert", "", "client certificate (TLS)")
	key := flag.String("key", "", "client key (TLS)")
	serverName := flag.String("servername", "localhost", "name the server certificate must hold (TLS)")
	flag.Parse()

	dial := func(network, address string) (net.Conn, error) {
		d := &net.Dialer{Timeout: *timeout}
		if !*useTLS {
			return d.Dial(network, address)
		}
		cfg := &tls.Config{ServerName: *serverName}
		if *ca != "" {
			pem, err := os.ReadFile(*ca)
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificate in %s", *ca)
			}
			cfg.RootCAs = pool
		}
		if *cert != "" {
			pair, err := tls.LoadX509KeyPair(*cert, *key)
			if err != nil {
				return nil, err
			}
			cfg.Certificates = []tls.Certificate{pair}
		}
		return tls.DialWithDialer(d, network, address, cfg)
	}
	var lines []string
	if *linesFile != "" {
		data, err := os.ReadFile(*linesFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "lines:", err)
			os.Exit(2)
		}
		lines = strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	}
	opts := []v2.Option{v2.CompressionLevel(*compress), v2.Timeout(*timeout)}
	host, _ := os.Hostname()

	acked := 0
	next := 0
	makeBatch := func() []interface{} {
		n := *batch
		if *count-next < n {
			n = *count - next
		}
		events := make([]interface{}, n)
		for i := range events {
			event := map[string]interface{}{
				"@timestamp": time.Now().UTC(),
				"@metadata":  map[string]interface{}{"beat": "lumber-send", "type": "_doc", "version": "8.0.0"},
				"message":    fmt.Sprintf("event %d from %s", next, *id),
				"sender":     *id,
				"seq":        next,
				"host":       map[string]interface{}{"name": host},
				"log":        map[string]interface{}{"offset": next},
			}
			if lines != nil {
				event["message"] = lines[next%len(lines)]
			}
			if len(fields) > 0 {
				event["fields"] = map[string]interface{}(fields)
			}
			events[i] = event
			next++
		}
		return events
	}

	if *inflight == 0 {
		cl, err := v2.SyncDialWith(dial, *addr, opts...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "connect:", err)
			os.Exit(2)
		}
		defer cl.Close()
		for next < *count {
			events := makeBatch()
			n, err := cl.Send(events)
			acked += n
			if err != nil {
				fmt.Printf("acked %d\n", acked)
				fmt.Fprintln(os.Stderr, "send:", err)
				os.Exit(1)
			}
		}
	} else {
		cl, err := v2.AsyncDialWith(dial, *addr, *inflight, opts...)
		if err != nil {
			fmt.Fprintln(os.Stderr, "connect:", err)
			os.Exit(2)
		}
		results := make(chan error, *count / *batch + 2)
		windows := 0
		for next < *count {
			events := makeBatch()
			size := len(events)
			windows++
			err := cl.Send(func(seq uint32, err error) {
				if err == nil && int(seq) != size {
					err = fmt.Errorf("window of %d acknowledged up to %d", size, seq)
				}
				if err == nil {
					acked += size
				}
				results <- err
			}, events)
			if err != nil {
				break
			}
		}
		var failed error
		for i := 0; i < windows; i++ {
			if err := <-results; err != nil && failed == nil {
				failed = err
			}
		}
		cl.Close()
		if failed != nil {
			fmt.Printf("acked %d\n", acked)
			fmt.Fprintln(os.Stderr, "send:", failed)
			os.Exit(1)
		}
	}
	fmt.Printf("acked %d\n", acked)
}
