package transport

import (
	"log/slog"
	"net"
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

func newVNetWorld(t *testing.T, nat vnet.NATType) *vnetWorld {
	t.Helper()
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
	lan := func(cidr, public, ip string) *vnet.Net {
		n := nat
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
		guestNet: lan("10.0.1.0/24", "1.2.3.10", "10.0.1.2"),
		hostNet:  lan("10.0.2.0/24", "1.2.3.20", "10.0.2.2"),
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

// Config.Setting carries a pion vnet: peers behind NATs meet through STUN
// when the NATs map independently of the destination, and fall back to the
// TURN relay behind symmetric NATs.
func TestVNetNAT(t *testing.T) {
	tests := []struct {
		name  string
		nat   vnet.NATType
		relay bool // whether the selected pair goes through TURN
	}{
		{"endpoint-independent NAT", vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}, false},
		{"symmetric NAT", vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t, 60*time.Second)
			w := newVNetWorld(t, tc.nat)
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
			g, h := p.channels(t, ctx, wire.ChannelInput)
			move := &wire.MouseMove{X: 10, Y: 20}
			if err := g.Send(move); err != nil {
				t.Fatal(err)
			}
			if m, err := h.Recv(ctx); err != nil || *m.(*wire.MouseMove) != *move {
				t.Fatalf("Recv = %#v, %v", m, err)
			}
		})
	}
}
