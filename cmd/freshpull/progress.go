package main

import (
	"context"
	"io"
	"sync"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progressBars shows one mpb bar per blob download on a terminal.
type progressBars struct {
	p    *mpb.Progress
	mu   sync.Mutex
	bars map[string]*mpb.Bar
}

func newProgressBars(ctx context.Context, w io.Writer) *progressBars {
	return &progressBars{
		p:    mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(40)),
		bars: map[string]*mpb.Bar{},
	}
}

func (b *progressBars) Start(ref string, desc ocispec.Descriptor) {
	name := desc.Digest.Encoded()
	if len(name) > 12 {
		name = name[:12]
	}
	bar := b.p.AddBar(desc.Size,
		mpb.PrependDecorators(decor.Name(name+" ", decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.OnComplete(decor.Name(""), " done")),
		mpb.BarRemoveOnComplete(),
	)
	b.mu.Lock()
	b.bars[desc.Digest.String()] = bar
	b.mu.Unlock()
}

func (b *progressBars) bar(desc ocispec.Descriptor) *mpb.Bar {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bars[desc.Digest.String()]
}

func (b *progressBars) Advance(desc ocispec.Descriptor, n int64) {
	if bar := b.bar(desc); bar != nil {
		bar.IncrInt64(n)
	}
}

func (b *progressBars) Done(desc ocispec.Descriptor, err error) {
	if bar := b.bar(desc); bar != nil {
		if err != nil {
			bar.Abort(true)
			return
		}
		bar.SetTotal(-1, true)
	}
}

// Wait lets the bars finish drawing before results are printed.
func (b *progressBars) Wait() { b.p.Wait() }
