//! UDP pushes to HTTP subscribers, with a raw UDP socket as the client:
//! the datagram's shape, the target (the TCP peer, not the `clientIP` the
//! request names), acknowledgements, resends and giving up.

use std::sync::atomic::Ordering;
use std::time::Duration;

use nocas_testkit::{Http, TestServer, wait_until};
use serde_json::Value;
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(10);

async fn recv(sock: &UdpSocket) -> (Value, std::net::SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
        .await
        .expect("a push within the wait")
        .expect("recv");
    (serde_json::from_slice(&buf[..n]).expect("JSON push"), from)
}

fn ports(push: &Value) -> Vec<u64> {
    let view: Value = serde_json::from_str(push["data"].as_str().expect("data")).expect("view");
    assert_eq!(view["name"], "DEFAULT_GROUP@@u");
    let mut p: Vec<u64> = view["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["port"].as_u64())
        .collect();
    p.sort();
    p
}

#[tokio::test]
async fn pushes_are_acknowledged_or_sent_again_then_given_up() {
    let s = TestServer::start_with(|st| {
        st.naming.udp_ack_timeout_ms = 200;
        st.naming.udp_max_retries = 1;
    })
    .await;
    let udp = s
        .running()
        .app()
        .udp
        .clone()
        .expect("UDP push on by default");
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    let h = Http::new();
    // The clientIP a request names is not where pushes go.
    let r = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[
                ("serviceName", "u"),
                ("udpPort", &port),
                ("clientIP", "192.0.2.1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Listed as a subscriber of the service.
    let subs = h
        .get(
            &s.url("/nacos/v2/ns/service/subscribers"),
            &[("serviceName", "u")],
        )
        .await
        .json();
    assert_eq!(subs["data"]["count"], 1, "{subs}");
    assert_eq!(
        subs["data"]["subscribers"][0]["addrStr"],
        format!("127.0.0.1:{port}")
    );
    let reg = |p: &'static str| {
        let (h, url) = (h.clone(), s.url("/nacos/v1/ns/instance"));
        async move {
            let r = h
                .post(
                    &url,
                    &[("serviceName", "u"), ("ip", "10.0.0.1"), ("port", p)],
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
    };
    reg("1").await;
    let (first, from) = recv(&sock).await;
    assert_eq!(first["type"], "dom");
    assert_eq!(ports(&first), vec![1]);
    assert_eq!(from, udp.local_addr().unwrap());
    // Not acknowledged: sent again with the same lastRefTime, then given up.
    let (again, _) = recv(&sock).await;
    assert_eq!(again["lastRefTime"], first["lastRefTime"]);
    wait_until(WAIT, "the unacknowledged push given up", || {
        let udp = udp.clone();
        async move { udp.failed.load(Ordering::Relaxed) == 1 }
    })
    .await;
    // Acknowledged: done.
    reg("2").await;
    let (next, from) = recv(&sock).await;
    assert_eq!(ports(&next), vec![1, 2]);
    let ack =
        serde_json::json!({"type": "push-ack", "lastRefTime": next["lastRefTime"], "data": ""});
    sock.send_to(ack.to_string().as_bytes(), from)
        .await
        .unwrap();
    wait_until(WAIT, "the push acknowledged", || {
        let udp = udp.clone();
        async move { udp.acked.load(Ordering::Relaxed) == 1 }
    })
    .await;
    assert_eq!(udp.failed.load(Ordering::Relaxed), 1);
    // Garbage on the UDP port changes nothing.
    sock.send_to(b"not json", from).await.unwrap();
    sock.send_to(br#"{"type":"push-ack","lastRefTime":1}"#, from)
        .await
        .unwrap();
    assert_eq!(udp.subscriber_count(), 1);
    // A bad udpPort is a 400.
    let r = h
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "u"), ("udpPort", "70000")],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
}

#[tokio::test]
async fn subscribers_that_stop_listing_are_forgotten() {
    let s = TestServer::start_with(|st| st.naming.udp_client_ttl_ms = 300).await;
    let udp = s.running().app().udp.clone().expect("UDP push");
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = sock.local_addr().unwrap().port().to_string();
    Http::new()
        .get(
            &s.url("/nacos/v1/ns/instance/list"),
            &[("serviceName", "u"), ("udpPort", &port)],
        )
        .await;
    assert_eq!(udp.subscriber_count(), 1);
    wait_until(WAIT, "the silent UDP subscriber forgotten", || {
        let udp = udp.clone();
        async move { udp.subscriber_count() == 0 }
    })
    .await;
    assert_eq!(s.running().app().hub.subscription_count(), 0);
}
