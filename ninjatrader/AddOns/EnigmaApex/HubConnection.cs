// Enigma-Apex protocol client: one WebSocket to the hub (ws://host:8765), with hello/welcome, a ping every few
// seconds, reconnection with exponential backoff and jitter, and an outgoing queue that keeps reports (fills,
// order states) while the hub is away. No NinjaTrader types. The socket is WebSocketClient (Nagle off).
// Every callback it runs on a timer or the thread pool catches its exceptions: inside NinjaTrader an exception
// escaping a thread-pool thread ends the whole process.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace EnigmaApex.Protocol
{
    public sealed class HubConnection : IDisposable
    {
        /// <summary>docs/protocol.md: the hub refuses a second client on a connected executor's token.</summary>
        public const int CloseInUse = 4005;
        const int MaxFramesPerWrite = 64;  // frames written together at most (a burst of marks after a reconnect)

        readonly Uri uri;
        readonly string token;
        readonly string clientName;
        readonly ExecutorSession session;
        readonly ConcurrentQueue<string> outgoing = new ConcurrentQueue<string>();
        readonly SemaphoreSlim pending = new SemaphoreSlim(0);
        readonly CancellationTokenSource stopping = new CancellationTokenSource();
        readonly Random jitter = new Random();
        WebSocketClient socket;
        DateTime? awaySince;
        volatile bool flattened, connected;

        public double HeartbeatSeconds = 5.0;
        public double MaxBackoffSeconds = 10.0;
        /// <summary>How long to wait before trying again when another client holds this executor's identity.</summary>
        public double InUseBackoffSeconds = 30.0;
        /// <summary>Flatten every owned account after this long without the hub; 0 = never.</summary>
        public double FlattenAfterDisconnectSeconds = 0;
        public Action<string> Status;  // "connected", "disconnected: ...", "refused: ...", "in use: ..."
        public Action<string> OnOther; // frames the session does not handle (decisions, risk updates)
        public Action FlattenAll;      // called when FlattenAfterDisconnectSeconds passes without the hub
        public int Connections { get; private set; }
        public bool Connected { get { return connected; } }
        public string LastStatus { get; private set; }

        public HubConnection(string url, string token, string clientName, ExecutorSession session)
        {
            uri = new Uri(url);
            this.token = token;
            this.clientName = clientName;
            this.session = session;
            LastStatus = "starting";
            if (session != null) session.Send = Enqueue;
        }

        public void Start() { Task.Run(() => RunAsync(stopping.Token)); }

        public void Enqueue(string frame)
        {
            outgoing.Enqueue(frame);
            if (pending.CurrentCount == 0) pending.Release();  // a wake-up; the sender drains the whole queue
        }

        /// <summary>Abort the socket (tests of reconnection).</summary>
        public void Drop()
        {
            var s = socket;
            if (s != null) s.Abort();
        }

        void Watch()
        {
            try
            {
                if (connected || FlattenAfterDisconnectSeconds <= 0 || Connections == 0 || flattened) return;
                var since = awaySince;
                if (since.HasValue && (DateTime.UtcNow - since.Value).TotalSeconds >= FlattenAfterDisconnectSeconds)
                {
                    flattened = true;
                    Say("flattening: no hub for " + FlattenAfterDisconnectSeconds + " s");
                    var flatten = FlattenAll;
                    if (flatten != null) flatten();
                }
            }
            catch (Exception ex)
            {
                Fault("flatten-after-disconnect", ex);
            }
        }

        /// <summary>Logged and reported to the hub as the component's health; never rethrown.</summary>
        public void Fault(string where, Exception ex)
        {
            Say("error in " + where + ": " + ex.GetType().Name + ": " + ex.Message);
            try { if (session != null) session.ReportHealth("ninjatrader." + where, "degraded", ex.GetType().Name + ": " + ex.Message); }
            catch (Exception) { }
        }

        async Task RunAsync(CancellationToken stop)
        {
            double delay = 0.2;
            using (new Timer(_ => Watch(), null, 500, 500))
            {
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        await SessionAsync(stop).ConfigureAwait(false);
                        delay = 0.2;
                    }
                    catch (InUseException ex)
                    {
                        Say("in use: " + ex.Message);
                        delay = InUseBackoffSeconds;
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
                    if (connected || awaySince == null) awaySince = DateTime.UtcNow;
                    connected = false;
                    if (session != null) session.Disconnected();
                    if (stop.IsCancellationRequested) break;
                    double wait;
                    lock (jitter) wait = delay * (0.5 + jitter.NextDouble());
                    try { await Task.Delay(TimeSpan.FromSeconds(wait), stop).ConfigureAwait(false); }
                    catch (TaskCanceledException) { break; }
                    delay = Math.Min(delay * 2, Math.Max(MaxBackoffSeconds, delay));
                }
            }
        }

        async Task SessionAsync(CancellationToken stop)
        {
            using (var ws = await WebSocketClient.ConnectAsync(uri, stop).ConfigureAwait(false))
            {
                socket = ws;
                string hello = session != null ? session.Hello(token, clientName) : ObserverHello();
                await ws.SendTextAsync(hello, stop).ConfigureAwait(false);
                string first;
                try { first = await ws.ReceiveTextAsync(stop).ConfigureAwait(false); }
                catch (HubClosedException ex)
                {
                    if (ex.Code == CloseInUse) throw new InUseException(ex.Message);
                    throw;
                }
                var welcome = Json.ParseObject(first);
                if (Json.Str(welcome, "type") != "welcome")
                {
                    string text = Json.Str(welcome, "message") ?? "the hub refused the token";
                    if (Json.Str(welcome, "code") == "IN_USE") throw new InUseException(text);
                    throw new UnauthorizedAccessException(text);
                }
                Connections++;
                connected = true;
                awaySince = null;
                flattened = false;
                Say("connected");
                using (var linked = CancellationTokenSource.CreateLinkedTokenSource(stop))
                {
                    Task sender = SendLoopAsync(ws, linked.Token);
                    Task beat = HeartbeatAsync(linked.Token);
                    try
                    {
                        if (session != null) session.Welcomed(welcome);
                        else Other(first);
                        while (!stop.IsCancellationRequested)
                        {
                            string frame = await ws.ReceiveTextAsync(stop).ConfigureAwait(false);
                            if (session != null) session.Handle(frame);
                            Other(frame);
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

        void Other(string frame)
        {
            var other = OnOther;
            if (other == null) return;
            try { other(frame); }
            catch (Exception ex) { Fault("frame-handler", ex); }
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
                // drain everything queued, in one write per turn (an order's ack and the reports NinjaTrader made
                // meanwhile reach the hub together): a frame left behind by a send that failed on the last
                // connection is sent first, and none waits for the next wake-up
                var batch = new List<string>();
                while (true)
                {
                    batch.Clear();
                    foreach (string queued in outgoing)  // a snapshot, oldest first; only this loop takes frames out
                    {
                        batch.Add(queued);
                        if (batch.Count == MaxFramesPerWrite) break;
                    }
                    if (batch.Count == 0) break;
                    await ws.SendTextsAsync(batch, stop).ConfigureAwait(false);
                    string sent;
                    for (int i = 0; i < batch.Count; i++) outgoing.TryDequeue(out sent);  // removed only once written
                }
                await pending.WaitAsync(stop).ConfigureAwait(false);
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
            LastStatus = status;
            var s = Status;
            if (s == null) return;
            try { s(status); }
            catch (Exception) { }  // a status display that fails must not stop the connection
        }

        /// <summary>Stops at once without waiting (NinjaTrader's State.Terminated must not block).</summary>
        public void Dispose()
        {
            stopping.Cancel();
            Drop();
        }
    }

    /// <summary>Another client holds this executor's identity at the hub (IN_USE, close 4005).</summary>
    public sealed class InUseException : Exception
    {
        public InUseException(string message) : base(message) { }
    }
}
