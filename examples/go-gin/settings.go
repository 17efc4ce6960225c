package main

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// Settings are the values this service reads from its config
// "<SERVICE>.yaml" (group DEFAULT_GROUP). A key missing from the config takes
// its default, so deleting a line (or the whole config) reverts to it.
type Settings struct {
	LogLevel        string // log.level: debug | info | warn | error
	FeatureGreeting bool   // feature.greeting
	Greeting        string // greeting
}

func defaultSettings() Settings {
	return Settings{LogLevel: "info", FeatureGreeting: false, Greeting: ""}
}

// liveSettings holds the current settings and applies new ones: the log
// level goes straight into the logger's LevelVar, the rest is read by the
// handlers on every request.
type liveSettings struct {
	mu    sync.RWMutex
	cur   Settings
	level *slog.LevelVar
	log   *slog.Logger
}

func newLiveSettings(level *slog.LevelVar, log *slog.Logger) *liveSettings {
	s := &liveSettings{cur: defaultSettings(), level: level, log: log}
	level.Set(slog.LevelInfo)
	return s
}

func (s *liveSettings) Get() Settings {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cur
}

// Apply parses a config's content and makes it current. Content that is not
// valid YAML leaves every setting as it was; a bad value for one key keeps
// that key's current value. source says where the content came from (for
// the log).
func (s *liveSettings) Apply(content, source string) {
	s.mu.Lock()
	defer s.mu.Unlock()

	flat, err := flattenYAML(content)
	if err != nil {
		s.log.Error("config is not valid YAML; keeping current settings", "source", source, "err", err)
		return
	}
	next := defaultSettings()

	if v, ok := flat["log.level"]; ok {
		lvl := strings.ToLower(strings.TrimSpace(fmt.Sprint(v)))
		if _, ok := parseLevel(lvl); ok {
			next.LogLevel = lvl
		} else {
			s.log.Warn("config: log.level must be debug, info, warn or error; keeping current level",
				"value", v, "current", s.cur.LogLevel)
			next.LogLevel = s.cur.LogLevel
		}
	}
	if v, ok := flat["feature.greeting"]; ok {
		switch b := v.(type) {
		case bool:
			next.FeatureGreeting = b
		default:
			s.log.Warn("config: feature.greeting must be true or false; keeping current value",
				"value", v, "current", s.cur.FeatureGreeting)
			next.FeatureGreeting = s.cur.FeatureGreeting
		}
	}
	if v, ok := flat["greeting"]; ok && v != nil {
		next.Greeting = fmt.Sprint(v)
	}

	prev := s.cur
	s.cur = next
	lvl, _ := parseLevel(next.LogLevel)
	s.level.Set(lvl)
	s.log.Info("settings applied", "source", source,
		"log.level", next.LogLevel, "feature.greeting", next.FeatureGreeting, "greeting", next.Greeting,
		"changed", prev != next)
}

func parseLevel(s string) (slog.Level, bool) {
	switch s {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

func levelName(l slog.Level) string {
	switch {
	case l <= slog.LevelDebug:
		return "debug"
	case l <= slog.LevelInfo:
		return "info"
	case l <= slog.LevelWarn:
		return "warn"
	default:
		return "error"
	}
}

// flattenYAML reads a YAML mapping and returns it with nested keys joined by
// dots, so `log.level: debug` and `log: {level: debug}` mean the same.
// Empty content is an empty mapping (the SDK reports a missing config as "").
func flattenYAML(content string) (map[string]any, error) {
	out := map[string]any{}
	if strings.TrimSpace(content) == "" {
		return out, nil
	}
	var root any
	if err := yaml.Unmarshal([]byte(content), &root); err != nil {
		return nil, err
	}
	if root == nil {
		return out, nil
	}
	m, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("top level is %T, want a mapping", root)
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			if sub, ok := v.(map[string]any); ok {
				walk(key, sub)
				continue
			}
			out[key] = v
		}
	}
	walk("", m)
	return out, nil
}
