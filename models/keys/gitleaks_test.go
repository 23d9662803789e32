package keys_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"keydesk/models/keys"
)

// gitleaksRules reads the rules of the repository's .gitleaks.toml by id.
func gitleaksRules(t *testing.T) map[string]*regexp.Regexp {
	t.Helper()
	var cfg struct {
		Rules []struct {
			ID       string   `toml:"id"`
			Regex    string   `toml:"regex"`
			Keywords []string `toml:"keywords"`
		} `toml:"rules"`
	}
	if _, err := toml.DecodeFile("../../.gitleaks.toml", &cfg); err != nil {
		t.Fatal(err)
	}
	rules := map[string]*regexp.Regexp{}
	for _, r := range cfg.Rules {
		re, err := regexp.Compile(r.Regex) // gitleaks uses Go's RE2 syntax
		if err != nil {
			t.Fatalf("rule %s: %v", r.ID, err)
		}
		rules[r.ID] = re
	}
	return rules
}

// The gitleaks rules find every generated keydesk key, bare or inside a
// line of code or configuration, and none of the near-misses: another
// prefix, one character short or long, a character outside base62.
func TestGitleaksRulesMatchKeysAndNotNearMisses(t *testing.T) {
	rules := gitleaksRules(t)
	apiRule, mgmtRule := rules["keydesk-api-key"], rules["keydesk-management-key"]
	if apiRule == nil || mgmtRule == nil {
		t.Fatalf("rules %v: want keydesk-api-key and keydesk-management-key", rules)
	}
	for range 200 {
		apiKey := keys.NewAPIKeyString()
		mgmtKey := keys.ManagementKeyPrefix + apiKey[len(keys.KeyPrefix):]
		if keys.CheckManagementKeyFormat(mgmtKey) != nil {
			t.Fatalf("%s is no management key", mgmtKey)
		}
		for _, tc := range []struct {
			rule *regexp.Regexp
			key  string
		}{{apiRule, apiKey}, {mgmtRule, mgmtKey}} {
			for _, text := range []string{tc.key, "KEYDESK_API_KEY=" + tc.key + "\n", `headers = {"api-key": "` + tc.key + `"}`, "Authorization: Bearer " + tc.key} {
				if m := tc.rule.FindStringSubmatch(text); m == nil || m[1] != tc.key {
					t.Fatalf("%s does not find %s in %q (%v)", tc.rule, tc.key, text, m)
				}
			}
		}
		body := apiKey[len(keys.KeyPrefix):]
		nearMisses := []string{
			"kx_" + body, "KD_" + body, "k_" + body, "xkd_" + body, "kdi_" + body[:16], // another prefix
			"kd_" + body[:35], "kd_" + body + "A", // short, long
			"kd_" + body[:10] + "-" + body[11:], "kd_" + body[:10] + "é" + body[11:], "kd_" + body[:35] + "_", // bad characters
			"kdm_" + body[:35], "kdm_" + body + "x", "kdm-" + body, "kdm_" + body[:5] + "+" + body[6:],
		}
		for _, miss := range nearMisses {
			for _, rule := range []*regexp.Regexp{apiRule, mgmtRule} {
				if m := rule.FindString(miss); m != "" {
					t.Fatalf("%s matches the near-miss %q (%q)", rule, miss, m)
				}
			}
		}
		// Each rule finds only its own kind.
		if apiRule.MatchString(mgmtKey) || mgmtRule.MatchString(apiKey) {
			t.Fatalf("a rule finds the other kind: %s %s", apiKey, mgmtKey)
		}
	}
	if !strings.Contains(apiRule.String(), "kd_[0-9A-Za-z]{36}") || !strings.Contains(mgmtRule.String(), "kdm_[0-9A-Za-z]{36}") {
		t.Fatal("the rules no longer hold the patterns registered with GitHub")
	}
}

// No document or source file the project ships holds a string the
// gitleaks rules take for a real key: examples show kd_… or a placeholder,
// so a scanner (and a reader) never mistakes one for a leaked secret.
// Tests are left out: their fixtures are made-up keys on purpose.
func TestNoShippedFileHoldsAKeyShapedString(t *testing.T) {
	rules := gitleaksRules(t)
	skipDirs := map[string]bool{".git": true, "node_modules": true, "bin": true, "data": true, "testdata": true}
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipDirs[d.Name()] {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(path, "_test.go"), strings.HasSuffix(path, ".min.js"), strings.HasSuffix(path, ".png"):
			return nil
		case !slices.Contains([]string{".go", ".templ", ".yaml", ".yml", ".md", ".js", ".toml", ".json"}, filepath.Ext(path)):
			return nil
		}
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for id, re := range rules {
			for _, m := range re.FindAll(body, -1) {
				t.Errorf("%s holds %q, which the gitleaks rule %s takes for a real key", path, m, id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
