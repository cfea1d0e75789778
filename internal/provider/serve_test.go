package provider

import (
	"os"
	"testing"
)

// TestDefaultLogLevels: the plugin's SDK and provider loggers log at the level Terraform
// shows (TF_LOG_PROVIDER, else TF_LOG), are off when Terraform shows none, and a level the
// user set for them is kept.
func TestDefaultLogLevels(t *testing.T) {
	cases := []struct {
		name             string
		env              map[string]string // "" values are set empty; absent keys are unset
		wantSDK, wantPrv string
		wantFramework    string
	}{
		{"nothing shown", nil, "OFF", "OFF", "OFF"},
		{"TF_LOG", map[string]string{"TF_LOG": "debug"}, "DEBUG", "DEBUG", "DEBUG"},
		{"TF_LOG=JSON", map[string]string{"TF_LOG": "JSON"}, "TRACE", "TRACE", "TRACE"},
		{"TF_LOG_PROVIDER wins", map[string]string{"TF_LOG": "WARN", "TF_LOG_PROVIDER": "INFO"}, "INFO", "INFO", "INFO"},
		{"user's SDK level kept, the framework follows it", map[string]string{"TF_LOG_SDK": "TRACE"}, "TRACE", "OFF", "TRACE"},
		{"user's framework level kept", map[string]string{"TF_LOG_SDK_FRAMEWORK": "DEBUG"}, "OFF", "OFF", "DEBUG"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, name := range []string{"TF_LOG", "TF_LOG_PROVIDER", "TF_LOG_SDK", "TF_LOG_SDK_FRAMEWORK", "TF_LOG_SDK_PROTO"} {
				v, ok := c.env[name]
				t.Setenv(name, v) // restored after the test
				if !ok {
					_ = os.Unsetenv(name)
				}
			}
			defaultLogLevels()
			if got := os.Getenv("TF_LOG_SDK"); got != c.wantSDK {
				t.Errorf("TF_LOG_SDK = %q, want %q", got, c.wantSDK)
			}
			if got := os.Getenv("TF_LOG_PROVIDER"); got != c.wantPrv {
				t.Errorf("TF_LOG_PROVIDER = %q, want %q", got, c.wantPrv)
			}
			if got := os.Getenv("TF_LOG_SDK_FRAMEWORK"); got != c.wantFramework {
				t.Errorf("TF_LOG_SDK_FRAMEWORK = %q, want %q", got, c.wantFramework)
			}
		})
	}
}
