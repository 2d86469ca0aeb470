package egress

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/hangar-dev/hangar"
)

const sseTranscript = "event: message_start\r\n" +
	`data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-sonnet-4-6","usage":{"input_tokens":25,"cache_creation_input_tokens":7,"cache_read_input_tokens":11,"output_tokens":1}}}` + "\r\n\r\n" +
	"event: content_block_delta\n" +
	`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hello \"usage\" world"}}` + "\n\n" +
	"event: message_delta\n" +
	`data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}` + "\n\n" +
	"event: message_stop\n" +
	`data: {"type":"message_stop"}` + "\n\n"

func TestSSEUsageAnySplit(t *testing.T) {
	t.Parallel()
	want := hangar.Usage{InputTokens: 25, OutputTokens: 15, CacheReadInputTokens: 11, CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: 7}}
	b := []byte(sseTranscript)
	for i := 0; i <= len(b); i++ {
		for _, j := range []int{i, (i + len(b)) / 2, len(b)} {
			var s sseUsage
			s.write(b[:i])
			s.write(b[i:j])
			s.write(b[j:])
			got, ok := s.finish()
			if !ok {
				t.Fatalf("split %d/%d: no usage found", i, j)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("split %d/%d: usage mismatch (-want +got):\n%s", i, j, diff)
			}
		}
	}
}

func TestSSEUsageDeltaCarriesCumulativeInput(t *testing.T) {
	t.Parallel()
	var s sseUsage
	s.write([]byte(`data: {"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1,"cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":4}}}}` + "\n\n"))
	s.write([]byte(`data: {"type":"message_delta","usage":{"input_tokens":30,"output_tokens":9,"cache_read_input_tokens":5}}`)) // no final newline
	got, ok := s.finish()
	want := hangar.Usage{InputTokens: 30, OutputTokens: 9, CacheReadInputTokens: 5, CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: 2, Ephemeral1hInputTokens: 4}}
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Fatalf("ok=%v, usage mismatch (-want +got):\n%s", ok, diff)
	}
}

func TestSSEUsageNone(t *testing.T) {
	t.Parallel()
	var s sseUsage
	s.write([]byte("event: ping\ndata: {\"type\":\"ping\"}\n\nevent: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\n\n"))
	if _, ok := s.finish(); ok {
		t.Error("usage reported for a stream without one")
	}
}

func TestSSEUsageLongLineSkipped(t *testing.T) {
	t.Parallel()
	var s sseUsage
	long := make([]byte, maxSSELine+10)
	for i := range long {
		long[i] = 'x'
	}
	s.write([]byte("data: "))
	s.write(long)
	s.write([]byte("\n" + `data: {"type":"message_delta","usage":{"output_tokens":2}}` + "\n"))
	got, ok := s.finish()
	if !ok || got.OutputTokens != 2 {
		t.Fatalf("got %+v ok=%v, want output_tokens 2", got, ok)
	}
}

func TestJSONUsage(t *testing.T) {
	t.Parallel()
	var j jsonUsage
	body := `{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":12,"output_tokens":4,"cache_read_input_tokens":1,"cache_creation_input_tokens":6,"cache_creation":{"ephemeral_5m_input_tokens":2,"ephemeral_1h_input_tokens":4}}}`
	j.write([]byte(body[:10]))
	j.write([]byte(body[10:]))
	got, ok := j.finish()
	want := hangar.Usage{InputTokens: 12, OutputTokens: 4, CacheReadInputTokens: 1, CacheCreation: hangar.CacheCreation{Ephemeral5mInputTokens: 2, Ephemeral1hInputTokens: 4}}
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Fatalf("ok=%v, usage mismatch (-want +got):\n%s", ok, diff)
	}

	var none jsonUsage
	none.write([]byte(`{"input_tokens":5}`)) // count_tokens has no usage object
	if _, ok := none.finish(); ok {
		t.Error("usage reported for a body without one")
	}
}

func TestVendorUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		scan   scanner
		body   string
		want   hangar.Usage
		wantOK bool
	}{
		{
			name: "openai responses json",
			scan: &jsonUsage{api: apiOpenAI},
			body: `{"id":"resp_1","object":"response","usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":3}}`,
			want: hangar.Usage{InputTokens: 6, CacheReadInputTokens: 4, OutputTokens: 3}, wantOK: true,
		},
		{
			name: "openai chat completions json",
			scan: &jsonUsage{api: apiOpenAI},
			body: `{"object":"chat.completion","usage":{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0}}}`,
			want: hangar.Usage{InputTokens: 9, OutputTokens: 2}, wantOK: true,
		},
		{
			name: "openai chat completions stream",
			scan: &sseUsage{api: apiOpenAI},
			body: "data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n" +
				"data: {\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5}}\n\ndata: [DONE]\n\n",
			want: hangar.Usage{InputTokens: 7, OutputTokens: 5}, wantOK: true,
		},
		{
			name: "openai response.incomplete",
			scan: &sseUsage{api: apiOpenAI},
			body: "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"usage\":{\"input_tokens\":8,\"output_tokens\":64}}}\n\n",
			want: hangar.Usage{InputTokens: 8, OutputTokens: 64}, wantOK: true,
		},
		{
			name: "openai stream without usage",
			scan: &sseUsage{api: apiOpenAI},
			body: "data: {\"type\":\"response.created\",\"response\":{\"usage\":null}}\n\n",
		},
		{
			name: "gemini json",
			scan: &jsonUsage{api: apiGemini},
			body: `{"candidates":[],"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":4}}`,
			want: hangar.Usage{InputTokens: 11, OutputTokens: 4}, wantOK: true,
		},
		{
			name: "gemini json array (stream without alt=sse)",
			scan: &jsonUsage{api: apiGemini},
			body: `[{"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":1}},{"candidates":[]},{"usageMetadata":{"promptTokenCount":11,"candidatesTokenCount":6,"cachedContentTokenCount":3}}]`,
			want: hangar.Usage{InputTokens: 8, CacheReadInputTokens: 3, OutputTokens: 6}, wantOK: true,
		},
		{
			name: "gemini error",
			scan: &jsonUsage{api: apiGemini},
			body: `{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`,
		},
		{
			name: "anthropic usage is not gemini usage",
			scan: &sseUsage{api: apiGemini},
			body: "data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":1}}\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.scan.write([]byte(tt.body))
			got, ok := tt.scan.finish()
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("usage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
