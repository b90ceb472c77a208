package transport

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5/vnet"
	turnv5 "github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/tandem-rc/tandem/transport/wire"
)

// vnetWorld is a simulated internet (pion vnet, all in memory: no real
// sockets): a STUN/TURN server at 1.2.3.4 on the WAN and two LANs, each
// behind its own NAT, one per peer.
type vnetWorld struct {
	guestNet, hostNet *vnet.Net
	servers           []wire.ICEServer
}

// vnetBuild serializes building worlds: vnet numbers MAC addresses with
// an unguarded package counter.
var vnetBuild sync.Mutex

func newVNetWorld(t *testing.T, guestNAT, hostNAT vnet.NATType) *vnetWorld {
	t.Helper()
	vnetBuild.Lock()
	defer vnetBuild.Unlock()
	lf := pionLoggers{slog.New(slog.DiscardHandler)}
	if l := testLogger(); l != nil {
		lf = pionLoggers{l}
	}
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	serverNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{"1.2.3.4"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(serverNet); err != nil {
		t.Fatal(err)
	}
	lan := func(cidr, public, ip string, n vnet.NATType) *vnet.Net {
		r, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: cidr, StaticIPs: []string{public}, NATType: &n, LoggerFactory: lf})
		if err != nil {
			t.Fatal(err)
		}
		peerNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddNet(peerNet); err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(r); err != nil {
			t.Fatal(err)
		}
		return peerNet
	}
	w := &vnetWorld{
		guestNet: lan("10.0.1.0/24", "1.2.3.10", "10.0.1.2", guestNAT),
		hostNet:  lan("10.0.2.0/24", "1.2.3.20", "10.0.2.2", hostNAT),
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { wan.Stop() })

	pc, err := serverNet.ListenPacket("udp4", "1.2.3.4:3478")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := turnv5.NewServer(turnv5.ServerConfig{
		Realm:         "tandem.test",
		AuthHandler:   turnv5.LongTermTURNRESTAuthHandler(turnSecret, nil),
		LoggerFactory: lf,
		PacketConnConfigs: []turnv5.PacketConnConfig{{
			PacketConn:            pc,
			RelayAddressGenerator: &turnv5.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP("1.2.3.4"), Address: "1.2.3.4", Net: serverNet},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	user, pass, err := turnv5.GenerateLongTermTURNRESTCredentials(turnSecret, "u-1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w.servers = []wire.ICEServer{
		{URLs: []string{"stun:1.2.3.4:3478"}},
		{URLs: []string{"turn:1.2.3.4:3478?transport=udp"}, Username: user, Credential: pass},
	}
	return w
}

func (w *vnetWorld) config(n *vnet.Net) Config {
	se := &webrtc.SettingEngine{}
	se.SetNet(n)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	return Config{ICEServers: w.servers, Setting: se, Logger: testLogger()}
}

// The NAT types of RFC 3489 as pion's vnet models them (RFC 4787
// mapping and filtering behaviours).
var (
	fullCone       = vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
	restricted     = vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrDependent}
	portRestricted = vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
	symmetric      = vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
)

// TestVNetNAT is the NAT matrix: each peer behind its own NAT, a STUN/TURN
// server on the WAN. Peers connect directly (through the NAT mappings STUN
// found) wherever one side's mapping does not depend on the destination or
// the other side filters by address only, and through TURN where both
// fail (symmetric against port-restricted or symmetric). Each session
// carries a screen frame of several fragments, byte-exact.
func TestVNetNAT(t *testing.T) {
	tests := []struct {
		name        string
		guest, host vnet.NATType
		relay       bool // whether the selected pair goes through TURN
	}{
		{"full cone/full cone", fullCone, fullCone, false},
		{"restricted/port restricted", restricted, portRestricted, false},
		{"port restricted/port restricted", portRestricted, portRestricted, false},
		{"symmetric/full cone", symmetric, fullCone, false},
		{"restricted/symmetric", restricted, symmetric, false},
		{"port restricted/symmetric", portRestricted, symmetric, true},
		{"symmetric/symmetric", symmetric, symmetric, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t, 90*time.Second)
			w := newVNetWorld(t, tc.guest, tc.host)
			p := newPair(t, ctx, w.config(w.guestNet), w.config(w.hostNet), 0)
			p.waitConnected(t, ctx)
			local, remote, err := p.guest.SelectedPair()
			if err != nil {
				t.Fatal(err)
			}
			// A NAT-mapped address shows as the remote's srflx or prflx
			// candidate (the local side of the pair is the socket's host
			// candidate); relayed pairs have a relay candidate on one side.
			t.Logf("guest selected pair: %s/%s", local, remote)
			if relayed := local == "relay" || remote == "relay"; relayed != tc.relay {
				t.Fatalf("selected pair %s/%s, want relayed=%v", local, remote, tc.relay)
			}
			if !tc.relay && remote != "srflx" && remote != "prflx" {
				t.Fatalf("selected pair %s/%s does not cross the NAT", local, remote)
			}
			g, h := p.channels(t, ctx, wire.ChannelScreen)
			data := make([]byte, 150_000) // several fragments
			rand.Read(data)
			frame := &wire.ScreenFrame{Codec: wire.CodecTilesV1, Data: data}
			if err := h.Send(frame); err != nil {
				t.Fatal(err)
			}
			m, err := g.Recv(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if f, ok := m.(*wire.ScreenFrame); !ok || !bytes.Equal(f.Data, data) {
				t.Fatalf("frame across the NATs: %T, want the %d bytes sent", m, len(data))
			}
		})
	}
}
