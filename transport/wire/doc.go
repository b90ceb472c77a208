// Package wire is Tandem's wire protocol: a leaf package (standard library
// only) shared by the relay, the host/OnDemand agents and the guests.
//
// Two encodings, chosen by where the bytes travel:
//
//   - Signal: JSON objects over the WebSocket between an agent or a guest and
//     the relay (hello, agent authentication, inventory, grants, SDP and
//     trickle-ICE routing, bye). The relay is a router of these; JSON keeps
//     them readable in logs and trivially decodable by a browser console.
//   - Session messages: compact binary messages on the WebRTC data channels
//     ("control", "input", "screen", "files", "exec") between a host and a
//     guest. The relay never sees them.
//
// Evolution is additive: new message types and new fields are added, old
// codes are never reused (retired codes are listed below and stay reserved).
// Peers advertise capabilities in their hello; a peer ignores unknown
// capabilities and unknown JSON fields, and answers an unknown binary
// message type with an Error carrying ErrCodeUnsupported instead of closing.
//
// Protocol version changelog:
//
//	1  first version: hello, signaling, control, input, screen frames.
//	   Additive: ScreenFrame.Codec CodecTilesV2 (capture/codec payload
//	   version 2: copy-rect for scroll and moves, solid fill, palette
//	   tiles) and the capability CapScreenTilesV2. Hosts send version 2;
//	   guests decode both.
//	   Additive: file transfer on the "files" channel (CapFiles), codes
//	   0x40–0x47: FileList, FileListing, FileOpen, FileReady, FileChunk,
//	   FileDone, FileAck, FileCancel (see files.go for the exchanges), and
//	   Error codes 5–8 (not found, exists, too large, checksum). Hosts
//	   refuse them with ErrCodeDenied without the file_transfer permission.
//	   Additive: session features, codes 0x50–0x57 (see features.go):
//	   Chat (both ways, on "control", CapChat), command execution on the
//	   "exec" channel (CapExec): ExecStart, ExecStarted, ExecOutput,
//	   ExecExit, ExecCancel, and power actions on "control" (CapPower):
//	   PowerAction, PowerDone. Hosts refuse them with ErrCodeDenied without
//	   the chat, execute_command or power permission respectively.
//	   Additive: local-desktop messages on the "control" channel, codes
//	   0x60–0x64: ClipboardText, ClipboardGet, InputLock, ScreenBlank,
//	   LocalState (see local.go), and the capabilities CapClipboard (a
//	   guest that announces it receives the host's clipboard changes),
//	   CapInputLock and CapScreenBlank (a host that announces them may
//	   still answer ErrCodeUnsupported where its platform cannot). Hosts
//	   refuse them with ErrCodeDenied without the clipboard, lock_input or
//	   blank_screen permission.
//	   Additive: the pointer beside the screen, codes 0x13–0x14 on
//	   "control" (see cursor.go): CursorShape (ID, hot spot, RGBA
//	   pixels up to MaxCursorSide square) and CursorPos (position and
//	   shape ID), sent only to guests that announce CapCursor.
//	   Additive: CapScreenPredict; hosts set the PREDICT flag of
//	   CodecTilesV2 payloads only for guests that announce it.
//	   Additive: CapPing; hosts send Pings on "control" (about once a
//	   second, for the RTT) only to guests that announce it.
//	2  the relay proves its key to agents (CapRelayProof): the agent's
//	   hello carries a Nonce (NonceSize random bytes) and the capability;
//	   the relay's challenge then carries, besides its own Nonce, a
//	   Signature with its Ed25519 key over RelayProofMessage(challenge
//	   version, agent nonce, relay nonce), and the agent answers with a
//	   signature over AuthMessageV2 (both nonces, device, relay key).
//	   A refusal the relay sends after such a challenge carries its
//	   Signature over VerdictMessage(agent nonce, relay nonce, code);
//	   the agent acts on no refusal without it (a "revoked" after ready
//	   only makes it reconnect, and the next handshake's verdict decides).
//	   An agent of version 2 acts on nothing the relay says before that
//	   proof verifies against the key it pinned; the relay still serves
//	   version-1 agents (hello without the capability) the old way, so
//	   Hosts can be updated after their relay. Only the agent handshake
//	   changed; guests and session messages are as in version 1.
//	   Additive: CapKeyRotation; the relay's challenge to an agent that
//	   announces it carries Handovers (KeyHandover, oldest first), each
//	   the previous key's signature over HandoverMessage. An agent whose
//	   pinned key does not verify the proof follows the chain from its
//	   pinned key to the proof's key and pins that one; nothing else.
//
// Session message codes by range: 0x01–0x0f session and control, 0x10–0x1f
// screen (0x13 CursorShape and 0x14 CursorPos, host → guest, on control;
// 0x15–0x1f free), 0x20–0x2f input, 0x40–0x4f file transfer, 0x50–0x5f session
// features (chat, execute command, power; 0x58–0x5f free), 0x60–0x6f local
// desktop (clipboard, input lock, screen blanking; 0x65–0x6f free).
//
//	0x50 Chat          both ways    control
//	0x51 ExecStart     guest → host exec
//	0x52 ExecStarted   host → guest exec
//	0x53 ExecOutput    host → guest exec
//	0x54 ExecExit      host → guest exec
//	0x55 ExecCancel    guest → host exec
//	0x56 PowerAction   guest → host control
//	0x57 PowerDone     host → guest control
//	0x60 ClipboardText both ways    control
//	0x61 ClipboardGet  guest → host control
//	0x62 InputLock     guest → host control
//	0x63 ScreenBlank   guest → host control
//	0x64 LocalState    host → guest control
//
// Retired session message codes: none yet.
package wire

// Version is the protocol version this build speaks.
const Version = 2

// MinVersion is the oldest peer protocol version this build accepts.
const MinVersion = 1

// Data channel labels.
const (
	ChannelControl = "control"
	ChannelInput   = "input"
	ChannelScreen  = "screen"
	ChannelFiles   = "files" // file transfer: ordered, reliable, its own flow control
	ChannelExec    = "exec"  // command execution: output paced on its own buffer
)

// Capabilities advertised in hellos.
const (
	CapScreenTiles   = "screen.tiles.zstd.v1" // capture/codec lossless tiles
	CapScreenTilesV2 = "screen.tiles.zstd.v2" // capture/codec version 2 ops
	// CapScreenPredict: the guest's decoder takes version-2 payloads with
	// the PREDICT flag (MED residuals for raw tiles, see capture/codec).
	CapScreenPredict = "screen.tiles.predict.v1"
	// CapScreenMotion: the guest's decoder takes version-2 ATLAS ops
	// (lossy pieces of what a move or scroll uncovers, refined lossless
	// when the motion stops, see capture/codec); older ones reject them.
	CapScreenMotion = "screen.tiles.motion.v1"
	CapInput        = "input.v1"
	CapFragments    = "frag.v1"  // messages larger than MaxFragment are fragmented
	CapFiles        = "files.v1" // file transfer messages on ChannelFiles
	CapChat         = "chat.v1"  // Chat on ChannelControl
	CapExec         = "exec.v1"  // command execution on ChannelExec
	CapPower        = "power.v1" // PowerAction and PowerDone on ChannelControl
	// CapPing: a guest that announces it answers the host's Pings on
	// ChannelControl at once; the host then pings it now and then to
	// measure the round trip for its screen pacing.
	CapPing = "ping.v1"
	// CapRelayProof (agent hello → relay): the agent sent a Nonce and
	// wants the relay to prove its key in the challenge (version 2).
	CapRelayProof = "relay-proof.v1"
	// CapKeyRotation (agent hello → relay): the agent follows signed key
	// hand-overs; the relay's challenge carries Handovers.
	CapKeyRotation = "key-rotation.v1"
)
