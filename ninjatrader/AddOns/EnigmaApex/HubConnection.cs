// Enigma-Apex protocol client: one WebSocket to the hub (ws://host:8765), with hello/welcome, a ping every few
// seconds, reconnection with exponential backoff and jitter, and an outgoing queue that keeps reports (fills,
// order states) while the hub is away. No NinjaTrader types. The socket is WebSocketClient (Nagle off).
using System;
using System.Collections.Concurrent;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace EnigmaApex.Protocol
{
    public sealed class HubConnection : IDisposable
    {
        readonly Uri uri;
        readonly string token;
        readonly string clientName;
        readonly ExecutorSession session;
        readonly ConcurrentQueue<string> outgoing = new ConcurrentQueue<string>();
        readonly SemaphoreSlim pending = new SemaphoreSlim(0);
        readonly CancellationTokenSource stopping = new CancellationTokenSource();
        readonly Random jitter = new Random();
        WebSocketClient socket;
        Task loop;
        DateTime? awaySince;
        bool flattened;

        public double HeartbeatSeconds = 5.0;
        public double MaxBackoffSeconds = 10.0;
        /// <summary>Flatten every owned account after this long without the hub; 0 = never.</summary>
        public double FlattenAfterDisconnectSeconds = 0;
        public Action<string> Status;  // "connected", "disconnected: ...", "refused: ..."
        public Action<string> OnOther; // frames the session does not handle (decisions, risk updates)
        public Action FlattenAll;      // called when FlattenAfterDisconnectSeconds passes without the hub
        public int Connections { get; private set; }
        public bool Connected { get; private set; }

        public HubConnection(string url, string token, string clientName, ExecutorSession session)
        {
            uri = new Uri(url);
            this.token = token;
            this.clientName = clientName;
            this.session = session;
            if (session != null) session.Send = Enqueue;
        }

        public void Start() { loop = Task.Run(() => RunAsync(stopping.Token)); }

        public void Enqueue(string frame)
        {
            outgoing.Enqueue(frame);
            pending.Release();
        }

        /// <summary>Abort the socket (tests of reconnection).</summary>
        public void Drop()
        {
            var s = socket;
            if (s != null) s.Abort();
        }

        async Task RunAsync(CancellationToken stop)
        {
            double delay = 0.2;
            Timer watch = new Timer(_ =>
            {
                if (Connected || FlattenAfterDisconnectSeconds <= 0 || Connections == 0 || flattened) return;
                if (awaySince.HasValue && (DateTime.UtcNow - awaySince.Value).TotalSeconds >= FlattenAfterDisconnectSeconds)
                {
                    flattened = true;
                    Say("flattening: no hub for " + FlattenAfterDisconnectSeconds + " s");
                    var flatten = FlattenAll;
                    if (flatten != null) flatten();
                }
            }, null, 500, 500);
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        await SessionAsync(stop).ConfigureAwait(false);
                        delay = 0.2;
                    }
                    catch (UnauthorizedAccessException ex)
                    {
                        Say("refused: " + ex.Message);
                        delay = MaxBackoffSeconds;
                    }
                    catch (Exception ex)
                    {
                        if (!stop.IsCancellationRequested) Say("disconnected: " + ex.Message);
                    }
                    if (Connected || awaySince == null) awaySince = DateTime.UtcNow;
                    Connected = false;
                    if (session != null) session.Disconnected();
                    if (stop.IsCancellationRequested) break;
                    double wait;
                    lock (jitter) wait = delay * (0.5 + jitter.NextDouble());
                    try { await Task.Delay(TimeSpan.FromSeconds(wait), stop).ConfigureAwait(false); }
                    catch (TaskCanceledException) { break; }
                    delay = Math.Min(delay * 2, MaxBackoffSeconds);
                }
            }
            finally
            {
                watch.Dispose();
            }
        }

        async Task SessionAsync(CancellationToken stop)
        {
            using (var ws = await WebSocketClient.ConnectAsync(uri, stop).ConfigureAwait(false))
            {
                socket = ws;
                string hello = session != null ? session.Hello(token, clientName) : ObserverHello();
                await ws.SendTextAsync(hello, stop).ConfigureAwait(false);
                string first = await ws.ReceiveTextAsync(stop).ConfigureAwait(false);
                var welcome = Json.ParseObject(first);
                if (Json.Str(welcome, "type") != "welcome")
                    throw new UnauthorizedAccessException(Json.Str(welcome, "message") ?? "the hub refused the token");
                Connections++;
                Connected = true;
                awaySince = null;
                flattened = false;
                Say("connected");
                using (var linked = CancellationTokenSource.CreateLinkedTokenSource(stop))
                {
                    Task sender = SendLoopAsync(ws, linked.Token);
                    Task beat = HeartbeatAsync(linked.Token);
                    if (session != null) session.Welcomed(welcome);
                    else if (OnOther != null) OnOther(first);
                    try
                    {
                        while (!stop.IsCancellationRequested)
                        {
                            string frame = await ws.ReceiveTextAsync(stop).ConfigureAwait(false);
                            if (session != null) session.Handle(frame);
                            var other = OnOther;
                            if (other != null) other(frame);
                        }
                    }
                    finally
                    {
                        linked.Cancel();
                        try { await Task.WhenAll(sender, beat).ConfigureAwait(false); } catch (Exception) { }
                    }
                }
            }
        }

        string ObserverHello()
        {
            var hello = ExecutorSession.Envelope("hello");
            hello["token"] = token;
            hello["client"] = clientName;
            return Json.Write(hello);
        }

        async Task SendLoopAsync(WebSocketClient ws, CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                await pending.WaitAsync(stop).ConfigureAwait(false);
                string frame;
                if (!outgoing.TryPeek(out frame)) continue;
                await ws.SendTextAsync(frame, stop).ConfigureAwait(false);
                outgoing.TryDequeue(out frame);  // removed only once sent: a drop keeps it for the next connection
            }
        }

        async Task HeartbeatAsync(CancellationToken stop)
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(HeartbeatSeconds), stop).ConfigureAwait(false);
                Enqueue(Json.Write(ExecutorSession.Envelope("ping")));
            }
        }

        void Say(string status)
        {
            var s = Status;
            if (s != null) s(status);
        }

        public void Dispose()
        {
            stopping.Cancel();
            Drop();
            try { if (loop != null) loop.Wait(2000); } catch (AggregateException) { }
        }
    }
}
