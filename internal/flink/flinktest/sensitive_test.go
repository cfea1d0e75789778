package flinktest

import "testing"

// Like Flink, the emulator hides the values of sensitive keys in /jobmanager/config.
func TestConfigHidesSensitiveValues(t *testing.T) {
	c := newTestCluster(t, JobSpec{Config: map[string]string{
		"fixture.db.password": "hunter2", "s3.secret-key": "abc", "Kafka.API-Key": "k", "s3.endpoint": "http://minio:9000",
	}})
	_, entries := callList(t, c, "/jobmanager/config")
	got := map[string]string{}
	for _, e := range entries {
		got[e["key"].(string)] = e["value"].(string)
	}
	for _, k := range []string{"fixture.db.password", "s3.secret-key", "Kafka.API-Key"} {
		if got[k] != HiddenContent {
			t.Errorf("%s = %q, want it hidden", k, got[k])
		}
	}
	if got["s3.endpoint"] != "http://minio:9000" {
		t.Errorf("s3.endpoint = %q, want it shown", got["s3.endpoint"])
	}
}
