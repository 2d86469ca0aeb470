package main

import (
	"context"
	"fmt"
	"io"

	"github.com/hangar-dev/hangar/internal/runner"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkresource "go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// newTracer builds the runner's turn tracer for HANGAR_OTEL_EXPORTER: "" or "none" (off,
// the default: nil), "stdout" (JSON spans on stdout) or "otlp" (OTLP over HTTP, configured
// by the standard OTEL_EXPORTER_OTLP_* variables). The tracer provider is the server's
// own, never the global one; shutdown flushes it.
func newTracer(ctx context.Context, exporter, instance string, stdout io.Writer) (_ runner.Tracer, shutdown func(context.Context) error, err error) {
	var exp sdktrace.SpanExporter
	switch exporter {
	case "", "none":
		return nil, func(context.Context) error { return nil }, nil
	case "stdout":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(stdout))
	case "otlp":
		exp, err = otlptracehttp.New(ctx)
	default:
		return nil, nil, fmt.Errorf("HANGAR_OTEL_EXPORTER: want none, stdout or otlp, got %q", exporter)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("trace exporter %s: %w", exporter, err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(sdkresource.NewSchemaless(
			attribute.String("service.name", "hangar"),
			attribute.String("service.version", version),
			attribute.String("service.instance.id", instance),
		)),
	)
	return otelTracer{tp.Tracer("github.com/hangar-dev/hangar/internal/runner")}, tp.Shutdown, nil
}

// otelTracer makes one span per turn: hangar.turn, with the session and message IDs, the
// number of runs (retries included) and the outcome.
type otelTracer struct{ t trace.Tracer }

var _ runner.Tracer = otelTracer{}

func (o otelTracer) StartTurn(ctx context.Context, sessionID, messageID string) (context.Context, func(runner.TurnEnd)) {
	ctx, span := o.t.Start(ctx, "hangar.turn", trace.WithAttributes(
		attribute.String("hangar.session.id", sessionID),
		attribute.String("hangar.message.id", messageID),
	))
	return ctx, func(e runner.TurnEnd) {
		span.SetAttributes(attribute.String("hangar.turn.outcome", e.Outcome), attribute.Int("hangar.turn.attempts", e.Attempts))
		if e.Err != nil {
			span.RecordError(e.Err)
			span.SetStatus(codes.Error, e.Outcome)
		}
		span.End()
	}
}
