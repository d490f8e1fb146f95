// Command audit-policy-eval times kube-apiserver's own audit policy evaluator
// (k8s.io/apiserver/pkg/audit/policy) on the requests recorded in an audit log.
//
//	audit-policy-eval -events LOG [-per-event] [-min-seconds 0.5] POLICY...
//
// LOG holds audit.k8s.io/v1 Event JSON lines (plain or gzip). Every line becomes the
// authorizer.AttributesRecord the apiserver would have built for that request: the user and
// groups from event.user (no user when the username is empty, as for failed authentication),
// verb, objectRef fields (a resource request when objectRef is present) and the path part of
// requestURI. Each policy is loaded with LoadPolicyFromFile, exactly as kube-apiserver loads
// --audit-policy-file. Only the evaluation loop over the pre-built attributes is timed (passed by
// pointer, as the apiserver's audit filter passes them); it runs over all events as many times as
// needed to last at least -min-seconds.
//
// Output, one JSON object on stdout:
//
//	{"events": N, "parse_seconds": s, "results": [{"policy": path, "evaluations": n, "seconds": s,
//	  "per_second": r, "levels": {"None": n, ...}, "per_event": "NMQR..."}]}
//
// per_event (with -per-event) has one letter per event, in log order: N(one), M(etadata),
// Q (Request), R(equestResponse).
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	auditapi "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

type eventUser struct {
	Username string   `json:"username"`
	Groups   []string `json:"groups"`
}

type objectRef struct {
	Resource    string `json:"resource"`
	Namespace   string `json:"namespace"`
	Name        string `json:"name"`
	APIGroup    string `json:"apiGroup"`
	APIVersion  string `json:"apiVersion"`
	Subresource string `json:"subresource"`
}

// event holds the Event fields the policy looks at; the decoder skips the rest (bodies included).
type event struct {
	Verb       string     `json:"verb"`
	RequestURI string     `json:"requestURI"`
	User       eventUser  `json:"user"`
	ObjectRef  *objectRef `json:"objectRef"`
}

var levelOrder = []auditapi.Level{
	auditapi.LevelNone, auditapi.LevelMetadata, auditapi.LevelRequest, auditapi.LevelRequestResponse,
}

var levelLetter = map[auditapi.Level]byte{
	auditapi.LevelNone: 'N', auditapi.LevelMetadata: 'M',
	auditapi.LevelRequest: 'Q', auditapi.LevelRequestResponse: 'R',
}

type result struct {
	Policy      string         `json:"policy"`
	Evaluations int            `json:"evaluations"`
	Seconds     float64        `json:"seconds"`
	PerSecond   float64        `json:"per_second"`
	Levels      map[string]int `json:"levels"`
	PerEvent    string         `json:"per_event,omitempty"`
}

type output struct {
	Events       int      `json:"events"`
	ParseSeconds float64  `json:"parse_seconds"`
	Results      []result `json:"results"`
}

func openLog(path string) (io.ReadCloser, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	reader := bufio.NewReaderSize(file, 1<<20)
	magic, _ := reader.Peek(2)
	if bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		unzipped, err := gzip.NewReader(reader)
		if err != nil {
			file.Close()
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{unzipped, file}, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{reader, file}, nil
}

func attributes(ev *event) authorizer.AttributesRecord {
	attrs := authorizer.AttributesRecord{Verb: ev.Verb}
	if ev.User.Username != "" {
		attrs.User = &user.DefaultInfo{Name: ev.User.Username, Groups: ev.User.Groups}
	}
	path := ev.RequestURI
	if parsed, err := url.ParseRequestURI(ev.RequestURI); err == nil {
		path = parsed.Path
	} else if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	attrs.Path = path
	if ev.ObjectRef != nil {
		attrs.ResourceRequest = true
		attrs.Namespace = ev.ObjectRef.Namespace
		attrs.APIGroup = ev.ObjectRef.APIGroup
		attrs.APIVersion = ev.ObjectRef.APIVersion
		attrs.Resource = ev.ObjectRef.Resource
		attrs.Subresource = ev.ObjectRef.Subresource
		attrs.Name = ev.ObjectRef.Name
	}
	return attrs
}

func readEvents(path string) ([]authorizer.AttributesRecord, error) {
	log, err := openLog(path)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	var all []authorizer.AttributesRecord
	scanner := bufio.NewScanner(log)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for scanner.Scan() {
		line++
		text := bytes.TrimSpace(scanner.Bytes())
		if len(text) == 0 {
			continue
		}
		var ev event
		if err := json.Unmarshal(text, &ev); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		all = append(all, attributes(&ev))
	}
	return all, scanner.Err()
}

func levelIndex(level auditapi.Level) int {
	switch level {
	case auditapi.LevelMetadata:
		return 1
	case auditapi.LevelRequest:
		return 2
	case auditapi.LevelRequestResponse:
		return 3
	}
	return 0
}

// cpuSeconds is the process's CPU time (user + system), as the Python side measures with process_time:
// on a machine others share it moves far less than the wall time.
func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return float64(time.Now().UnixNano()) / 1e9
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

func run(evaluator audit.PolicyRuleEvaluator, attrs []authorizer.AttributesRecord, minSeconds float64) (int, float64, [4]int) {
	var counts [4]int
	evaluations := 0
	started := cpuSeconds()
	for {
		for i := range attrs {
			counts[levelIndex(evaluator.EvaluatePolicyRule(&attrs[i]).Level)]++
		}
		evaluations += len(attrs)
		if elapsed := cpuSeconds() - started; elapsed >= minSeconds || len(attrs) == 0 {
			return evaluations, elapsed, counts
		}
	}
}

func main() {
	eventsPath := flag.String("events", "", "audit log: audit.k8s.io/v1 Event JSON lines, plain or gzip")
	perEvent := flag.Bool("per-event", false, "also print the level of every event (one letter each)")
	minSeconds := flag.Float64("min-seconds", 0.5, "repeat the evaluation loop until it has used this much CPU time")
	flag.Parse()
	if *eventsPath == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: audit-policy-eval -events LOG [-per-event] [-min-seconds S] POLICY...")
		os.Exit(2)
	}
	parseStart := time.Now()
	attrs, err := readEvents(*eventsPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := output{Events: len(attrs), ParseSeconds: time.Since(parseStart).Seconds()}
	for _, path := range flag.Args() {
		loaded, err := policy.LoadPolicyFromFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		evaluator := policy.NewPolicyRuleEvaluator(loaded)
		evaluations, seconds, counts := run(evaluator, attrs, *minSeconds)
		res := result{Policy: path, Evaluations: evaluations, Seconds: seconds, Levels: map[string]int{}}
		if seconds > 0 {
			res.PerSecond = float64(evaluations) / seconds
		}
		rounds := 1
		if len(attrs) > 0 {
			rounds = evaluations / len(attrs)
		}
		for i, level := range levelOrder {
			res.Levels[string(level)] = counts[i] / rounds
		}
		if *perEvent {
			letters := make([]byte, len(attrs))
			for i := range attrs {
				letters[i] = levelLetter[evaluator.EvaluatePolicyRule(&attrs[i]).Level]
			}
			res.PerEvent = string(letters)
		}
		out.Results = append(out.Results, res)
	}
	encoder := json.NewEncoder(os.Stdout)
	if err := encoder.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
