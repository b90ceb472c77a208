//go:build linux && cgo

package capture

// A PipeWire video consumer (libpipewire through cgo: there is no mature
// pure-Go PipeWire client, and the native protocol's buffer negotiation
// and memfd/eventfd activation are large). Only this file needs cgo; the
// D-Bus side (internal/mutter) is pure Go.
//
// One pw_stream per monitor, on its own thread loop. The process callback
// keeps only the newest frame, in BGRX, with the damage accumulated since
// Go last took it, and the cursor metadata; it wakes Go through a pipe.
// Mutter sends a frame only when the screen changed, so the last frame
// is the screen.

/*
#cgo CFLAGS: -I/usr/include/pipewire-0.3 -I/usr/include/spa-0.2
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <pipewire/pipewire.h>
#include <spa/param/video/format-utils.h>
#include <spa/buffer/meta.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <stdio.h>

// libpipewire is opened at run time (dlopen), not linked: the Host and
// OnDemand binaries must start on machines without PipeWire (X11 desktops,
// servers); only a GNOME session needs it.
#define TPW_FUNCS(X) X(pw_init) X(pw_thread_loop_new) X(pw_thread_loop_get_loop) X(pw_thread_loop_start) \
	X(pw_thread_loop_lock) X(pw_thread_loop_unlock) X(pw_thread_loop_stop) X(pw_thread_loop_destroy) \
	X(pw_context_new) X(pw_context_destroy) X(pw_context_connect_fd) X(pw_core_disconnect) \
	X(pw_properties_new) X(pw_stream_new) X(pw_stream_add_listener) X(pw_stream_connect) \
	X(pw_stream_dequeue_buffer) X(pw_stream_queue_buffer) X(pw_stream_update_params) \
	X(pw_stream_set_error) X(pw_stream_destroy)
#define TPW_DECL(f) static __typeof__(f) *tpw_##f;
TPW_FUNCS(TPW_DECL)
static const char *tpw_load_err;

static void tpw_load(void) {
	void *h = dlopen("libpipewire-0.3.so.0", RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) { tpw_load_err = "libpipewire-0.3.so.0 is not installed (Debian: libpipewire-0.3-0)"; return; }
#define TPW_SYM(f) if ((tpw_##f = (__typeof__(f) *)dlsym(h, #f)) == NULL) { tpw_load_err = "libpipewire lacks " #f; return; }
	TPW_FUNCS(TPW_SYM)
	tpw_pw_init(NULL, NULL);
}
#define pw_init tpw_pw_init
#define pw_thread_loop_new tpw_pw_thread_loop_new
#define pw_thread_loop_get_loop tpw_pw_thread_loop_get_loop
#define pw_thread_loop_start tpw_pw_thread_loop_start
#define pw_thread_loop_lock tpw_pw_thread_loop_lock
#define pw_thread_loop_unlock tpw_pw_thread_loop_unlock
#define pw_thread_loop_stop tpw_pw_thread_loop_stop
#define pw_thread_loop_destroy tpw_pw_thread_loop_destroy
#define pw_context_new tpw_pw_context_new
#define pw_context_destroy tpw_pw_context_destroy
#define pw_context_connect_fd tpw_pw_context_connect_fd
#define pw_core_disconnect tpw_pw_core_disconnect
#define pw_properties_new tpw_pw_properties_new
#define pw_stream_new tpw_pw_stream_new
#define pw_stream_add_listener tpw_pw_stream_add_listener
#define pw_stream_connect tpw_pw_stream_connect
#define pw_stream_dequeue_buffer tpw_pw_stream_dequeue_buffer
#define pw_stream_queue_buffer tpw_pw_stream_queue_buffer
#define pw_stream_update_params tpw_pw_stream_update_params
#define pw_stream_set_error tpw_pw_stream_set_error
#define pw_stream_destroy tpw_pw_stream_destroy

#define TPW_MAX_DMG 64
#define TPW_MAX_DIM 16384
#define TPW_MAX_CURSOR 384 // Mutter offers exactly 384x384 cursor metadata

typedef struct { int x, y, w, h; } tpw_rect;

typedef struct {
	int w, h;           // frame size (0 until the first frame)
	uint64_t seq;       // frames received
	int ndmg, full;     // damage since the last tpw_take
	tpw_rect dmg[TPW_MAX_DMG];
	int state;          // pw_stream_state
	int cur_valid, cur_visible, cur_x, cur_y, hot_x, hot_y, cur_w, cur_h;
	uint32_t cur_serial;
} tpw_info;

typedef struct {
	struct pw_thread_loop *loop;
	struct pw_context *ctx;
	struct pw_core *core;
	struct pw_stream *stream;
	struct spa_hook listener;
	int notify;
	int fmt_w, fmt_h;
	uint32_t fmt;
	pthread_mutex_t mu;
	uint8_t *pix;
	tpw_info info;
	uint8_t *cur_pix;   // straight RGBA
	char err[200];
} tpw;

static void tpw_wake(tpw *t) {
	char b = 1;
	ssize_t n = write(t->notify, &b, 1); // a full pipe already wakes Go
	(void)n;
}

static void tpw_add_damage(tpw *t, int x, int y, int w, int h) {
	if (t->info.full) return;
	if (t->info.ndmg >= TPW_MAX_DMG) { t->info.full = 1; return; }
	tpw_rect r = {x, y, w, h};
	t->info.dmg[t->info.ndmg++] = r;
}

static void tpw_cursor(tpw *t, struct spa_buffer *b) {
	struct spa_meta_cursor *c = spa_buffer_find_meta_data(b, SPA_META_Cursor, sizeof(*c));

	if (c == NULL) return;
	if (!spa_meta_cursor_is_valid(c)) { t->info.cur_visible = 0; return; }
	t->info.cur_valid = 1;
	t->info.cur_visible = 1;
	t->info.cur_x = c->position.x;
	t->info.cur_y = c->position.y;
	if (c->bitmap_offset < sizeof(*c)) return;
	struct spa_meta_bitmap *bm = SPA_PTROFF(c, c->bitmap_offset, struct spa_meta_bitmap);
	if (!spa_meta_bitmap_is_valid(bm)) return;
	t->info.hot_x = c->hotspot.x;
	t->info.hot_y = c->hotspot.y;
	int w = bm->size.width, h = bm->size.height, stride = bm->stride;
	if (bm->offset < sizeof(*bm) || w <= 0 || h <= 0 || w > TPW_MAX_CURSOR || h > TPW_MAX_CURSOR || stride < w * 4) {
		t->info.cur_w = t->info.cur_h = 0;
		t->info.cur_serial++;
		return;
	}
	int swap = bm->format == SPA_VIDEO_FORMAT_BGRA || bm->format == SPA_VIDEO_FORMAT_BGRx;
	int opaque = bm->format == SPA_VIDEO_FORMAT_BGRx || bm->format == SPA_VIDEO_FORMAT_RGBx;
	const uint8_t *src = SPA_PTROFF(bm, bm->offset, uint8_t);
	for (int y = 0; y < h; y++) {
		const uint8_t *s = src + (size_t)y * stride;
		uint8_t *d = t->cur_pix + (size_t)y * w * 4;
		for (int x = 0; x < w; x++, s += 4, d += 4) {
			d[0] = swap ? s[2] : s[0];
			d[1] = s[1];
			d[2] = swap ? s[0] : s[2];
			d[3] = opaque ? 255 : s[3];
		}
	}
	t->info.cur_w = w;
	t->info.cur_h = h;
	t->info.cur_serial++;
}

static void on_process(void *data) {
	tpw *t = data;
	struct pw_buffer *b = NULL, *n;
	// The newest buffer only; older ones go straight back.
	while ((n = pw_stream_dequeue_buffer(t->stream)) != NULL) {
		if (b != NULL) {
			pthread_mutex_lock(&t->mu);
			tpw_cursor(t, b->buffer);
			pthread_mutex_unlock(&t->mu);
			pw_stream_queue_buffer(t->stream, b);
		}
		b = n;
	}
	if (b == NULL) return;
	struct spa_buffer *sb = b->buffer;
	struct spa_data *d = &sb->datas[0];
	struct spa_meta_header *hdr = spa_buffer_find_meta_data(sb, SPA_META_Header, sizeof(*hdr));
	pthread_mutex_lock(&t->mu);

	tpw_cursor(t, sb);
	int w = t->fmt_w, h = t->fmt_h;
	int fresh = d->data != NULL && d->chunk != NULL && d->chunk->size > 0 &&
		!(hdr != NULL && (hdr->flags & SPA_META_HEADER_FLAG_CORRUPTED)) &&
		!(d->chunk->flags & SPA_CHUNK_FLAG_CORRUPTED) && t->pix != NULL && w > 0 && h > 0;
	if (fresh) {
		int stride = d->chunk->stride > 0 ? d->chunk->stride : w * 4;
		uint32_t off = d->chunk->offset % (d->maxsize ? d->maxsize : 1);
		if (stride < w * 4 || (uint64_t)off + (uint64_t)stride * (h - 1) + (uint64_t)w * 4 > d->maxsize) {
			fresh = 0;
		} else {
			const uint8_t *src = SPA_PTROFF(d->data, off, uint8_t);
			int swap = t->fmt == SPA_VIDEO_FORMAT_RGBx || t->fmt == SPA_VIDEO_FORMAT_RGBA;
			for (int y = 0; y < h; y++) {
				const uint8_t *s = src + (size_t)y * stride;
				uint8_t *o = t->pix + (size_t)y * w * 4;
				if (!swap) {
					memcpy(o, s, (size_t)w * 4);
					continue;
				}
				for (int x = 0; x < w * 4; x += 4) {
					o[x] = s[x + 2]; o[x + 1] = s[x + 1]; o[x + 2] = s[x]; o[x + 3] = 255;
				}
			}
			struct spa_meta *dm = spa_buffer_find_meta(sb, SPA_META_VideoDamage);
			int any = 0;
			if (dm != NULL && t->info.seq > 0) {
				struct spa_meta_region *r;
				spa_meta_for_each(r, dm) {
					if (!spa_meta_region_is_valid(r)) break;
					tpw_add_damage(t, r->region.position.x, r->region.position.y, r->region.size.width, r->region.size.height);
					any = 1;
				}
			}
			if (!any || t->info.w != w || t->info.h != h) t->info.full = 1;
			t->info.w = w;
			t->info.h = h;
			t->info.seq++;
		}
	}
	pthread_mutex_unlock(&t->mu);
	pw_stream_queue_buffer(t->stream, b);
	tpw_wake(t);
}

static void on_state(void *data, enum pw_stream_state old, enum pw_stream_state state, const char *error) {
	tpw *t = data;

	pthread_mutex_lock(&t->mu);
	t->info.state = state;
	if (state == PW_STREAM_STATE_ERROR && error != NULL) snprintf(t->err, sizeof(t->err), "%s", error);
	pthread_mutex_unlock(&t->mu);
	tpw_wake(t);
}

#define TPW_CURSOR_META_SIZE(w, h) (sizeof(struct spa_meta_cursor) + sizeof(struct spa_meta_bitmap) + (w) * (h) * 4)

static void on_param(void *data, uint32_t id, const struct spa_pod *param) {
	tpw *t = data;
	if (param == NULL || id != SPA_PARAM_Format) return;
	struct spa_video_info_raw info;
	memset(&info, 0, sizeof(info));
	if (spa_format_video_raw_parse(param, &info) < 0) return;
	int w = info.size.width, h = info.size.height;
	if (w <= 0 || h <= 0 || w > TPW_MAX_DIM || h > TPW_MAX_DIM) {
		pw_stream_set_error(t->stream, -EINVAL, "unsupported size");
		return;
	}
	pthread_mutex_lock(&t->mu);
	uint8_t *pix = realloc(t->pix, (size_t)w * h * 4);
	if (pix != NULL) {
		t->pix = pix;
		t->fmt_w = w;
		t->fmt_h = h;
		t->fmt = info.format;
	}
	pthread_mutex_unlock(&t->mu);
	if (pix == NULL) {
		pw_stream_set_error(t->stream, -ENOMEM, "no memory for the frame");
		return;
	}
	uint8_t buf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof(buf));
	const struct spa_pod *params[4];
	params[0] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamBuffers, SPA_PARAM_Buffers,
		SPA_PARAM_BUFFERS_buffers, SPA_POD_CHOICE_RANGE_Int(4, 2, 16),
		SPA_PARAM_BUFFERS_blocks, SPA_POD_Int(1),
		SPA_PARAM_BUFFERS_dataType, SPA_POD_CHOICE_FLAGS_Int((1 << SPA_DATA_MemFd) | (1 << SPA_DATA_MemPtr)));
	params[1] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_Header),
		SPA_PARAM_META_size, SPA_POD_Int(sizeof(struct spa_meta_header)));
	params[2] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_VideoDamage),
		SPA_PARAM_META_size, SPA_POD_CHOICE_RANGE_Int(sizeof(struct spa_meta_region) * 16,
			sizeof(struct spa_meta_region) * 1, sizeof(struct spa_meta_region) * 16));
	params[3] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_ParamMeta, SPA_PARAM_Meta,
		SPA_PARAM_META_type, SPA_POD_Id(SPA_META_Cursor),
		SPA_PARAM_META_size, SPA_POD_CHOICE_RANGE_Int(TPW_CURSOR_META_SIZE(64, 64),
			TPW_CURSOR_META_SIZE(1, 1), TPW_CURSOR_META_SIZE(TPW_MAX_CURSOR, TPW_MAX_CURSOR)));
	pw_stream_update_params(t->stream, params, 4);
}

static const struct pw_stream_events tpw_events = {
	PW_VERSION_STREAM_EVENTS,
	.state_changed = on_state,
	.param_changed = on_param,
	.process = on_process,
};

static void tpw_free(tpw *t) {
	if (t->loop) pw_thread_loop_stop(t->loop);
	if (t->stream) pw_stream_destroy(t->stream);
	if (t->core) pw_core_disconnect(t->core);
	if (t->ctx) pw_context_destroy(t->ctx);
	if (t->loop) pw_thread_loop_destroy(t->loop);
	pthread_mutex_destroy(&t->mu);
	free(t->pix);
	free(t->cur_pix);
	free(t);
}

// tpw_open connects to the PipeWire daemon on fd (taken over) and
// consumes node; notify is the write end of Go's wake-up pipe.
static tpw *tpw_open(int fd, uint32_t node, int notify, char *err, int errlen) {
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, tpw_load);
	if (tpw_load_err != NULL) { close(fd); snprintf(err, errlen, "%s", tpw_load_err); return NULL; }
	tpw *t = calloc(1, sizeof(*t));
	if (t == NULL) { close(fd); snprintf(err, errlen, "no memory"); return NULL; }
	pthread_mutex_init(&t->mu, NULL);
	t->notify = notify;
	t->cur_pix = malloc(TPW_MAX_CURSOR * TPW_MAX_CURSOR * 4);
	t->loop = pw_thread_loop_new("tandem-pw", NULL);
	if (t->loop == NULL || t->cur_pix == NULL) { close(fd); snprintf(err, errlen, "pw_thread_loop_new failed"); tpw_free(t); return NULL; }
	t->ctx = pw_context_new(pw_thread_loop_get_loop(t->loop), NULL, 0);
	if (t->ctx == NULL) { close(fd); snprintf(err, errlen, "pw_context_new: %s", strerror(errno)); tpw_free(t); return NULL; }
	if (pw_thread_loop_start(t->loop) < 0) { close(fd); snprintf(err, errlen, "pw_thread_loop_start failed"); tpw_free(t); return NULL; }
	pw_thread_loop_lock(t->loop);
	t->core = pw_context_connect_fd(t->ctx, fd, NULL, 0);
	if (t->core == NULL) {
		snprintf(err, errlen, "connect: %s", strerror(errno));
		pw_thread_loop_unlock(t->loop);
		tpw_free(t);
		return NULL;
	}
	t->stream = pw_stream_new(t->core, "tandem-capture", pw_properties_new(
		PW_KEY_MEDIA_TYPE, "Video", PW_KEY_MEDIA_CATEGORY, "Capture", PW_KEY_MEDIA_ROLE, "Screen", NULL));
	if (t->stream == NULL) {
		snprintf(err, errlen, "pw_stream_new: %s", strerror(errno));
		pw_thread_loop_unlock(t->loop);
		tpw_free(t);
		return NULL;
	}
	pw_stream_add_listener(t->stream, &t->listener, &tpw_events, t);
	uint8_t buf[1024];
	struct spa_pod_builder b = SPA_POD_BUILDER_INIT(buf, sizeof(buf));
	struct spa_rectangle sdef = SPA_RECTANGLE(1920, 1080), smin = SPA_RECTANGLE(1, 1), smax = SPA_RECTANGLE(TPW_MAX_DIM, TPW_MAX_DIM);
	struct spa_fraction fdef = SPA_FRACTION(30, 1), fmin = SPA_FRACTION(0, 1), fmax = SPA_FRACTION(1000, 1);
	const struct spa_pod *params[1];
	params[0] = spa_pod_builder_add_object(&b, SPA_TYPE_OBJECT_Format, SPA_PARAM_EnumFormat,
		SPA_FORMAT_mediaType, SPA_POD_Id(SPA_MEDIA_TYPE_video),
		SPA_FORMAT_mediaSubtype, SPA_POD_Id(SPA_MEDIA_SUBTYPE_raw),
		SPA_FORMAT_VIDEO_format, SPA_POD_CHOICE_ENUM_Id(5, SPA_VIDEO_FORMAT_BGRx, SPA_VIDEO_FORMAT_BGRx,
			SPA_VIDEO_FORMAT_BGRA, SPA_VIDEO_FORMAT_RGBx, SPA_VIDEO_FORMAT_RGBA),
		SPA_FORMAT_VIDEO_size, SPA_POD_CHOICE_RANGE_Rectangle(&sdef, &smin, &smax),
		SPA_FORMAT_VIDEO_framerate, SPA_POD_CHOICE_RANGE_Fraction(&fdef, &fmin, &fmax));
	int r = pw_stream_connect(t->stream, PW_DIRECTION_INPUT, node,
		PW_STREAM_FLAG_AUTOCONNECT | PW_STREAM_FLAG_MAP_BUFFERS, params, 1);
	pw_thread_loop_unlock(t->loop);
	if (r < 0) { snprintf(err, errlen, "pw_stream_connect: %s", strerror(-r)); tpw_free(t); return NULL; }
	return t;
}

// tpw_take copies the state out and clears the damage.
static void tpw_take(tpw *t, tpw_info *out, char *err, int errlen, int clear) {
	pthread_mutex_lock(&t->mu);
	*out = t->info;
	if (clear) {
		t->info.ndmg = 0;
		t->info.full = 0;
	}
	snprintf(err, errlen, "%s", t->err);
	pthread_mutex_unlock(&t->mu);
}

// tpw_copy copies the frame's rectangle (x, y, w, h) into dst with dstride;
// 0 when there is no frame of that size.
static int tpw_copy(tpw *t, uint8_t *dst, int dstride, int x, int y, int w, int h) {
	pthread_mutex_lock(&t->mu);
	int ok = t->info.seq > 0 && x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= t->info.w && y + h <= t->info.h;
	if (ok) {
		for (int r = 0; r < h; r++)
			memcpy(dst + (size_t)r * dstride, t->pix + ((size_t)(y + r) * t->info.w + x) * 4, (size_t)w * 4);
	}
	pthread_mutex_unlock(&t->mu);
	return ok;
}

// tpw_cursor_copy copies the cursor image (cur_w*cur_h*4 bytes).
static int tpw_cursor_copy(tpw *t, uint8_t *dst, int cap, uint32_t serial) {
	pthread_mutex_lock(&t->mu);
	int n = t->info.cur_w * t->info.cur_h * 4;
	int ok = t->info.cur_serial == serial && n <= cap;
	if (ok) memcpy(dst, t->cur_pix, n);
	pthread_mutex_unlock(&t->mu);
	return ok;
}

static void tpw_close(tpw *t) { tpw_free(t); }
*/
import "C"

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pwStream consumes one PipeWire video node.
type pwStream struct {
	mu sync.Mutex
	t  *C.tpw
}

// pwInfo is a snapshot of a stream's state.
type pwInfo struct {
	W, H             int
	Seq              uint64
	Damage           []rect
	Full             bool
	State            int
	Err              string
	CursorValid      bool
	CursorVisible    bool
	CursorX, CursorY int
	HotX, HotY       int
	CursorW, CursorH int
	CursorSerial     uint32
}

type rect struct{ X, Y, W, H int }

// PipeWire stream states (enum pw_stream_state).
const (
	pwStateError     = -1
	pwStateStreaming = 3
)

// openPipeWire consumes node over conn (a connection to the PipeWire
// socket, duplicated: conn stays the caller's). The stream writes a byte
// to notify (a non-blocking pipe) on every frame and state change.
func openPipeWire(conn net.Conn, node uint32, notify int) (*pwStream, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, errors.New("capture: pipewire: not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("capture: pipewire: %w", err)
	}
	fd := -1
	if cerr := raw.Control(func(s uintptr) { fd, err = unix.Dup(int(s)) }); cerr != nil {
		return nil, fmt.Errorf("capture: pipewire: %w", cerr)
	}
	if err != nil {
		return nil, fmt.Errorf("capture: pipewire: %w", err)
	}
	var cerr [200]C.char
	t := C.tpw_open(C.int(fd), C.uint32_t(node), C.int(notify), &cerr[0], C.int(len(cerr))) // takes fd
	if t == nil {
		return nil, fmt.Errorf("capture: pipewire: %s", C.GoString(&cerr[0]))
	}
	return &pwStream{t: t}, nil
}

// info reads the stream's state; take also clears the damage.
func (s *pwStream) info(take bool) (pwInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t == nil {
		return pwInfo{}, ErrClosed
	}
	var ci C.tpw_info
	var cerr [200]C.char
	clear := C.int(0)
	if take {
		clear = 1
	}
	C.tpw_take(s.t, &ci, &cerr[0], C.int(len(cerr)), clear)
	in := pwInfo{W: int(ci.w), H: int(ci.h), Seq: uint64(ci.seq), Full: ci.full != 0, State: int(ci.state), Err: C.GoString(&cerr[0]),
		CursorValid: ci.cur_valid != 0, CursorVisible: ci.cur_visible != 0, CursorX: int(ci.cur_x), CursorY: int(ci.cur_y),
		HotX: int(ci.hot_x), HotY: int(ci.hot_y), CursorW: int(ci.cur_w), CursorH: int(ci.cur_h), CursorSerial: uint32(ci.cur_serial)}
	for i := 0; i < int(ci.ndmg) && i < len(ci.dmg); i++ {
		d := ci.dmg[i]
		in.Damage = append(in.Damage, rect{int(d.x), int(d.y), int(d.w), int(d.h)})
	}
	return in, nil
}

// copyRect copies the frame's (x, y, w, h) into dst with stride; false
// without a frame that big.
func (s *pwStream) copyRect(dst []byte, stride, x, y, w, h int) bool {
	if w <= 0 || h <= 0 || len(dst) < (h-1)*stride+w*4 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t == nil {
		return false
	}
	return C.tpw_copy(s.t, (*C.uint8_t)(unsafe.Pointer(&dst[0])), C.int(stride), C.int(x), C.int(y), C.int(w), C.int(h)) != 0
}

// cursorImage copies the cursor image of serial; nil when it changed since.
func (s *pwStream) cursorImage(w, h int, serial uint32) []byte {
	if w <= 0 || h <= 0 {
		return nil
	}
	buf := make([]byte, w*h*4)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.t == nil || C.tpw_cursor_copy(s.t, (*C.uint8_t)(unsafe.Pointer(&buf[0])), C.int(len(buf)), C.uint32_t(serial)) == 0 {
		return nil
	}
	return buf
}

func (s *pwStream) close() {
	s.mu.Lock()
	t := s.t
	s.t = nil
	s.mu.Unlock()
	if t == nil {
		return
	}
	C.tpw_close(t) // stops the loop: no more writes to notify
}
