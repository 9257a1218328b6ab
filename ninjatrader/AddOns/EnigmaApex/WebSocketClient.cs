// Enigma-Apex protocol client: a minimal RFC 6455 WebSocket client on a TcpClient with NoDelay set.
// .NET's ClientWebSocket offers no way to turn Nagle's algorithm off (Mono ignores ServicePointManager), and
// an ack followed at once by a fill then waits ~40 ms for the hub's delayed ACK. Text frames only (the hub
// sends nothing else but ping/close control frames), client frames masked, wss:// through SslStream.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace EnigmaApex.Protocol
{
    public sealed class WebSocketClient : IDisposable
    {
        const string Magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
        public const int MaxMessageBytes = 1024 * 1024;
        readonly TcpClient tcp;
        readonly Stream stream;
        readonly SemaphoreSlim writeLock = new SemaphoreSlim(1);
        static readonly RandomNumberGenerator random = RandomNumberGenerator.Create();

        WebSocketClient(TcpClient tcp, Stream stream)
        {
            this.tcp = tcp;
            this.stream = stream;
        }

        public static async Task<WebSocketClient> ConnectAsync(Uri uri, CancellationToken stop)
        {
            bool secure = uri.Scheme == "wss";
            int port = uri.IsDefaultPort ? (secure ? 443 : 80) : uri.Port;
            var tcp = new TcpClient { NoDelay = true };
            try
            {
                using (stop.Register(() => tcp.Close()))
                    await tcp.ConnectAsync(uri.Host, port).ConfigureAwait(false);
                Stream stream = tcp.GetStream();
                if (secure)
                {
                    var ssl = new SslStream(stream, false);
                    await ssl.AuthenticateAsClientAsync(uri.Host).ConfigureAwait(false);
                    stream = ssl;
                }
                var key = new byte[16];
                random.GetBytes(key);
                string keyText = Convert.ToBase64String(key);
                string request = "GET " + uri.PathAndQuery + " HTTP/1.1\r\nHost: " + uri.Host + ":" + port +
                                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + keyText +
                                 "\r\nSec-WebSocket-Version: 13\r\n\r\n";
                var bytes = Encoding.ASCII.GetBytes(request);
                await stream.WriteAsync(bytes, 0, bytes.Length, stop).ConfigureAwait(false);
                string response = await ReadHeadersAsync(stream, stop).ConfigureAwait(false);
                if (!response.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
                    throw new IOException("the hub refused the WebSocket upgrade: " + response.Split('\r')[0]);
                string expected;
                using (var sha1 = SHA1.Create())
                    expected = Convert.ToBase64String(sha1.ComputeHash(Encoding.ASCII.GetBytes(keyText + Magic)));
                if (response.IndexOf("Sec-WebSocket-Accept: " + expected, StringComparison.OrdinalIgnoreCase) < 0)
                    throw new IOException("the upgrade answer does not carry the expected Sec-WebSocket-Accept");
                return new WebSocketClient(tcp, stream);
            }
            catch
            {
                tcp.Close();
                throw;
            }
        }

        static async Task<string> ReadHeadersAsync(Stream stream, CancellationToken stop)
        {
            var text = new StringBuilder();
            var one = new byte[1];
            while (!text.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await stream.ReadAsync(one, 0, 1, stop).ConfigureAwait(false) == 0) throw new IOException("connection closed");
                text.Append((char)one[0]);
                if (text.Length > 8192) throw new IOException("upgrade answer too long");
            }
            return text.ToString();
        }

        public Task SendTextAsync(string text, CancellationToken stop) { return WriteAsync(Frame(0x1, Encoding.UTF8.GetBytes(text)), stop); }

        /// <summary>Several text messages in one write to the socket (one frame each): the hub reads them together and
        /// records an order's reports sent together in one transaction.</summary>
        public Task SendTextsAsync(IList<string> texts, CancellationToken stop)
        {
            var frames = new MemoryStream();
            foreach (string text in texts)
            {
                var frame = Frame(0x1, Encoding.UTF8.GetBytes(text));
                frames.Write(frame, 0, frame.Length);
            }
            return WriteAsync(frames.ToArray(), stop);
        }

        Task SendAsync(int opcode, byte[] payload, CancellationToken stop) { return WriteAsync(Frame(opcode, payload), stop); }

        static byte[] Frame(int opcode, byte[] payload)
        {
            int header = payload.Length < 126 ? 2 : payload.Length <= 0xFFFF ? 4 : 10;
            var frame = new byte[header + 4 + payload.Length];
            frame[0] = (byte)(0x80 | opcode);
            if (payload.Length < 126) frame[1] = (byte)(0x80 | payload.Length);
            else if (header == 4)
            {
                frame[1] = 0x80 | 126;
                frame[2] = (byte)(payload.Length >> 8);
                frame[3] = (byte)payload.Length;
            }
            else
            {
                frame[1] = 0x80 | 127;
                long length = payload.Length;
                for (int i = 0; i < 8; i++) frame[2 + i] = (byte)(length >> (8 * (7 - i)));
            }
            var mask = new byte[4];
            lock (random) random.GetBytes(mask);
            Buffer.BlockCopy(mask, 0, frame, header, 4);
            for (int i = 0; i < payload.Length; i++) frame[header + 4 + i] = (byte)(payload[i] ^ mask[i % 4]);
            return frame;
        }

        async Task WriteAsync(byte[] bytes, CancellationToken stop)
        {
            await writeLock.WaitAsync(stop).ConfigureAwait(false);
            try { await stream.WriteAsync(bytes, 0, bytes.Length, stop).ConfigureAwait(false); }
            finally { writeLock.Release(); }
        }

        /// <summary>The next text message; answers pings; a close frame or a closed socket throws IOException.</summary>
        public async Task<string> ReceiveTextAsync(CancellationToken stop)
        {
            var message = new MemoryStream();
            while (true)
            {
                var head = await ReadExactAsync(2, stop).ConfigureAwait(false);
                bool fin = (head[0] & 0x80) != 0;
                int opcode = head[0] & 0x0F;
                long length = head[1] & 0x7F;
                if (length == 126)
                {
                    var ext = await ReadExactAsync(2, stop).ConfigureAwait(false);
                    length = (ext[0] << 8) | ext[1];
                }
                else if (length == 127)
                {
                    var ext = await ReadExactAsync(8, stop).ConfigureAwait(false);
                    length = 0;
                    for (int i = 0; i < 8; i++) length = (length << 8) | ext[i];
                }
                if (length > MaxMessageBytes || message.Length + length > MaxMessageBytes) throw new IOException("frame too large");
                byte[] mask = (head[1] & 0x80) != 0 ? await ReadExactAsync(4, stop).ConfigureAwait(false) : null;
                var payload = await ReadExactAsync((int)length, stop).ConfigureAwait(false);
                if (mask != null) for (int i = 0; i < payload.Length; i++) payload[i] ^= mask[i % 4];
                if (opcode == 0x8)
                {
                    int code = payload.Length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
                    string why = payload.Length > 2 ? Encoding.UTF8.GetString(payload, 2, payload.Length - 2) : "";
                    throw new HubClosedException(code, why);
                }
                if (opcode == 0x9) { await SendAsync(0xA, payload, stop).ConfigureAwait(false); continue; }
                if (opcode == 0xA) continue;
                message.Write(payload, 0, payload.Length);
                if (fin) return Encoding.UTF8.GetString(message.ToArray());
            }
        }

        async Task<byte[]> ReadExactAsync(int count, CancellationToken stop)
        {
            var buffer = new byte[count];
            int read = 0;
            while (read < count)
            {
                int n = await stream.ReadAsync(buffer, read, count - read, stop).ConfigureAwait(false);
                if (n == 0) throw new IOException("connection closed");
                read += n;
            }
            return buffer;
        }

        /// <summary>Close the TCP connection at once (no closing handshake).</summary>
        public void Abort() { tcp.Close(); }

        public void Dispose() { Abort(); }
    }

    /// <summary>The hub closed the connection with a close frame (docs/protocol.md, close codes).</summary>
    public sealed class HubClosedException : IOException
    {
        public readonly int Code;
        public HubClosedException(int code, string reason)
            : base("the hub closed the connection (" + code + (reason.Length > 0 ? ": " + reason : "") + ")")
        {
            Code = code;
        }
    }
}
