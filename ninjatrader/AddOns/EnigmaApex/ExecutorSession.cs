// Enigma-Apex protocol client: the executor side of the hub's WebSocket protocol (docs/protocol.md), with no
// NinjaTrader types. The AddOn and the Strategy give it an IBroker; HubConnection moves its frames.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace EnigmaApex.Protocol
{
    public sealed class BrokerResult
    {
        public readonly bool Accepted;
        public readonly string Reason;
        public BrokerResult(bool accepted, string reason) { Accepted = accepted; Reason = reason ?? ""; }
        public static BrokerResult Ok() { return new BrokerResult(true, ""); }
        public static BrokerResult No(string reason) { return new BrokerResult(false, reason); }
    }

    public sealed class OrderCommand
    {
        public string Key, Ref, Account, Symbol, Side, OrderType, Tif, Purpose;
        public int Quantity;
        public decimal? LimitPrice, StopPrice, BracketStop, BracketTarget;
        public bool Buy { get { return Side == "buy"; } }
        public bool Reduces { get { return Purpose == "exit" || Purpose == "flatten"; } }
    }

    public sealed class PositionReport
    {
        public string Account, Symbol;
        public int Quantity;  // signed, long > 0
        public decimal? AveragePrice;
    }

    public sealed class AccountReport
    {
        public string Account;
        public decimal Balance, Realized;
        public decimal? Open;  // null: the platform cannot see the open P&L
    }

    /// <summary>What the session needs from the platform: NinjaTrader's Account API, a strategy, or a test.</summary>
    public interface IBroker
    {
        IList<string> Accounts();
        BrokerResult Place(OrderCommand order);
        BrokerResult Cancel(string account, string orderKey, string orderRef);
        BrokerResult Flatten(string account, bool cancelWorking);
        IList<PositionReport> Positions(string account);
        AccountReport Balance(string account);
        /// <summary>The account's broker connection: connected, connecting, connection_lost, disconnected,
        /// disconnecting (docs/protocol.md, account.status).</summary>
        string ConnectionOf(string account);
    }

    /// <summary>Compact order references: what an order is named at NinjaTrader (names are limited to 50
    /// characters). The same as the hub's (docs/protocol.md, "Order references").</summary>
    public static class OrderRefs
    {
        public const string Prefix = "ea";
        public const int Length = 18;
        const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

        public static string For(string key)
        {
            byte[] digest;
            using (var sha = SHA256.Create()) digest = sha.ComputeHash(Encoding.UTF8.GetBytes(key));
            var text = new StringBuilder(Prefix);
            int buffer = 0, bits = 0, i = 0;
            while (text.Length < Length)
            {
                if (bits < 5)
                {
                    buffer = (buffer << 8) | digest[i++];
                    bits += 8;
                }
                text.Append(Alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
            return text.ToString();
        }

        /// <summary>The reference an order name starts with ("ea…", "ea…:stop"), or null.</summary>
        public static string Of(string name)
        {
            if (string.IsNullOrEmpty(name) || name.Length < Length || !name.StartsWith(Prefix, StringComparison.Ordinal))
                return null;
            string head = name.Substring(0, Length);
            return name.Length == Length || name[Length] == ':' ? head : null;
        }
    }

    public sealed class ExecutorSession
    {
        readonly IBroker broker;
        readonly int keysKept;
        readonly LinkedList<string> keyOrder = new LinkedList<string>();
        readonly HashSet<string> keys = new HashSet<string>();
        readonly Dictionary<string, string> keyOfRef = new Dictionary<string, string>();
        // orders this client refused, with the reason: a resend is answered with the refusal again, not "duplicate"
        // (the first answer may have been lost with the connection, and the hub takes "duplicate" as accepted)
        readonly Dictionary<string, string> refusals = new Dictionary<string, string>();
        readonly object gate = new object();
        volatile bool accepting;
        volatile IList<string> owned = new List<string>();

        public long? LastSeq { get; private set; }
        public int Duplicates { get; private set; }
        public bool AcceptingEntries { get { return accepting; } }
        /// <summary>The accounts of the last welcome (kept while the hub is away: flatten-after-disconnect).</summary>
        public IList<string> OwnedAccounts { get { return owned; } }
        /// <summary>This client's identity for the hub (one executor identity per client, docs/protocol.md).</summary>
        public readonly string Instance = Guid.NewGuid().ToString("N").Substring(0, 16);
        public Action<string> Send;  // set by the transport: queues one text frame

        public ExecutorSession(IBroker broker, int keysKept = 100000)
        {
            this.broker = broker;
            this.keysKept = keysKept;
        }

        public static string Now()
        {
            return DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture);
        }

        public static Dictionary<string, object> Envelope(string type)
        {
            return new Dictionary<string, object>
            {
                { "v", 1 },
                { "type", type },
                { "id", Guid.NewGuid().ToString("N").Substring(0, 16) },
                { "ts", Now() },
            };
        }

        public string Hello(string token, string client)
        {
            var hello = Envelope("hello");
            hello["token"] = token;
            hello["client"] = client;
            hello["client_version"] = "1.1";
            hello["instance"] = Instance;
            if (LastSeq.HasValue) hello["resume_seq"] = LastSeq.Value;
            return Json.Write(hello);
        }

        /// <summary>The hub's key for an order named by its reference; the reference itself when this session
        /// never saw the key (after a restart: the hub maps references back to keys).</summary>
        public string KeyOf(string orderName)
        {
            string reference = OrderRefs.Of(orderName);
            if (reference == null) return orderName;
            string key;
            lock (gate)
                if (keyOfRef.TryGetValue(reference, out key)) return key + orderName.Substring(reference.Length);
            return orderName;
        }

        /// <summary>The hub's welcome: report every owned account's connection, positions and balance.</summary>
        public void Welcomed(Dictionary<string, object> welcome)
        {
            var list = new List<string>();
            var listed = welcome.ContainsKey("accounts") ? welcome["accounts"] as List<object> : null;
            if (listed != null)
                foreach (var a in listed)
                    if (a is string) list.Add((string)a);
            owned = list;
            accepting = true;
            var mine = new HashSet<string>(broker.Accounts());
            foreach (var account in list)
            {
                if (!mine.Contains(account))
                {
                    ReportAccountStatus(account, "disconnected", "not an account of this client");
                    continue;
                }
                try
                {
                    ReportAccountStatus(account, broker.ConnectionOf(account), "");
                    foreach (var p in broker.Positions(account)) ReportPosition(p);
                    var state = broker.Balance(account);
                    if (state != null) ReportAccount(state);
                }
                catch (Exception ex)  // one account the platform cannot read must not end the session
                {
                    ReportHealth("ninjatrader.welcome", "degraded", account + ": " + ex.GetType().Name + ": " + ex.Message);
                }
            }
        }

        public void Disconnected() { accepting = false; }

        /// <summary>One frame from the hub. Order flow is answered with an ack; a repeated key is a duplicate.</summary>
        public void Handle(string text)
        {
            Dictionary<string, object> message;
            try { message = Json.ParseObject(text); }
            catch (FormatException) { return; }
            string type = Json.Str(message, "type");
            decimal? seq = Json.Dec(message, "seq");
            if (seq.HasValue && seq.Value > 0) LastSeq = Math.Max(LastSeq ?? 0, (long)seq.Value);
            if (type != "order.place" && type != "order.cancel" && type != "flatten") return;
            string key = Json.Str(message, "key");
            if (string.IsNullOrEmpty(key)) return;
            if (!Remember(key))
            {
                Duplicates++;
                string refusal;
                lock (gate) { if (!refusals.TryGetValue(key, out refusal)) refusal = null; }
                if (refusal != null) Ack(key, seq, "rejected", refusal);
                else Ack(key, seq, "duplicate", "");
                return;
            }
            BrokerResult result;
            string account = Json.Str(message, "account");
            try
            {
                if (type == "order.place") result = Place(message, key, account);
                else if (type == "order.cancel")
                {
                    string orderKey = Json.Str(message, "order_key");
                    result = broker.Cancel(account, orderKey, Json.Str(message, "order_ref") ?? OrderRefs.For(orderKey ?? ""));
                }
                else
                {
                    object cancel;
                    bool all = !message.TryGetValue("cancel_working", out cancel) || !(cancel is bool) || (bool)cancel;
                    result = broker.Flatten(account, all);
                }
            }
            catch (Exception ex)
            {
                result = BrokerResult.No(ex.GetType().Name + ": " + ex.Message);
            }
            if (!result.Accepted && type == "order.place") lock (gate) refusals[key] = result.Reason;
            Ack(key, seq, result.Accepted ? "accepted" : "rejected", result.Reason);
        }

        BrokerResult Place(Dictionary<string, object> message, string key, string account)
        {
            var order = new OrderCommand
            {
                Key = key,
                Ref = Json.Str(message, "order_ref") ?? OrderRefs.For(key),
                Account = account,
                Symbol = Json.Str(message, "symbol"),
                Side = Json.Str(message, "side"),
                OrderType = Json.Str(message, "order_type") ?? "market",
                Tif = Json.Str(message, "tif") ?? "day",
                Purpose = Json.Str(message, "purpose") ?? "entry",
                Quantity = (int)(Json.Dec(message, "quantity") ?? 0),
                LimitPrice = Json.Dec(message, "limit_price"),
                StopPrice = Json.Dec(message, "stop_price"),
            };
            var bracket = message.ContainsKey("bracket") ? message["bracket"] as Dictionary<string, object> : null;
            if (bracket != null)
            {
                order.BracketStop = Json.Dec(bracket, "stop");
                order.BracketTarget = Json.Dec(bracket, "target");
            }
            // the hub's schema allows exactly these; anything else is refused, never guessed
            if (order.Side != "buy" && order.Side != "sell") return BrokerResult.No("unknown side " + order.Side);
            if (order.OrderType != "market" && order.OrderType != "limit" && order.OrderType != "stop" && order.OrderType != "stop_limit")
                return BrokerResult.No("unknown order_type " + order.OrderType);
            if (order.Purpose != "entry" && order.Purpose != "exit" && order.Purpose != "flatten")
                return BrokerResult.No("unknown purpose " + order.Purpose);
            if (order.Tif != "day" && order.Tif != "gtc") return BrokerResult.No("unknown tif " + order.Tif);
            if (order.Quantity < 1) return BrokerResult.No("quantity must be at least 1");
            if ((order.OrderType == "limit" || order.OrderType == "stop_limit") && !order.LimitPrice.HasValue)
                return BrokerResult.No(order.OrderType + " needs limit_price");
            if ((order.OrderType == "stop" || order.OrderType == "stop_limit") && !order.StopPrice.HasValue)
                return BrokerResult.No(order.OrderType + " needs stop_price");
            lock (gate) keyOfRef[order.Ref] = key;
            return broker.Place(order);
        }

        bool Remember(string key)
        {
            lock (gate)
            {
                if (keys.Contains(key)) return false;
                keys.Add(key);
                keyOrder.AddLast(key);
                while (keyOrder.Count > keysKept)
                {
                    keys.Remove(keyOrder.First.Value);
                    refusals.Remove(keyOrder.First.Value);
                    keyOfRef.Remove(OrderRefs.For(keyOrder.First.Value));
                    keyOrder.RemoveFirst();
                }
                return true;
            }
        }

        void Ack(string key, decimal? seq, string status, string reason)
        {
            var ack = Envelope("ack");
            if (seq.HasValue) ack["ack"] = (long)seq.Value;
            ack["key"] = key;
            ack["status"] = status;
            ack["reason"] = Truncate(reason, 500);
            Emit(ack);
        }

        // ------------------------------------------------------------------ reports (any thread)
        public void ReportFill(string fillId, string key, string account, string symbol, string side, int quantity,
                               decimal price, decimal commission, DateTimeOffset executedAt)
        {
            var fill = Envelope("fill");
            fill["fill_id"] = SafeKey(fillId);
            fill["key"] = SafeKey(KeyOf(key));
            fill["account"] = account;
            fill["symbol"] = symbol;
            fill["side"] = side;
            fill["quantity"] = quantity;
            fill["price"] = price;
            fill["commission"] = commission;
            fill["executed_at"] = executedAt.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture);
            Emit(fill);
        }

        public void ReportOrder(string key, string account, string status, int filled, decimal? averagePrice,
                                string brokerOrderId, string reason)
        {
            var update = Envelope("order.update");
            update["key"] = SafeKey(KeyOf(key));
            update["account"] = account;
            update["status"] = status;
            update["filled_quantity"] = filled;
            if (averagePrice.HasValue && averagePrice.Value > 0) update["average_price"] = averagePrice.Value;
            if (!string.IsNullOrEmpty(brokerOrderId)) update["broker_order_id"] = Truncate(brokerOrderId, 64);
            update["reason"] = Truncate(reason ?? "", 500);
            Emit(update);
        }

        public void ReportPosition(PositionReport position)
        {
            var message = Envelope("position");
            message["account"] = position.Account;
            message["symbol"] = position.Symbol;
            message["quantity"] = position.Quantity;
            if (position.Quantity != 0 && position.AveragePrice.HasValue) message["average_price"] = position.AveragePrice.Value;
            Emit(message);
        }

        public void ReportAccount(AccountReport state)
        {
            var message = Envelope("account.update");
            message["account"] = state.Account;
            message["balance"] = state.Balance;
            message["realized_pnl"] = state.Realized;
            if (state.Open.HasValue) message["open_pnl"] = state.Open.Value;
            Emit(message);
        }

        /// <summary>The broker connection of one account (NinjaTrader's ConnectionStatus, mapped).</summary>
        public void ReportAccountStatus(string account, string connection, string text)
        {
            var message = Envelope("account.status");
            message["account"] = account;
            message["connection"] = connection;
            message["message"] = Truncate(text ?? "", 500);
            Emit(message);
        }

        public void ReportMarketData(string symbol, decimal? bid, decimal? ask, decimal? last)
        {
            var message = Envelope("market.data");
            message["symbol"] = symbol;
            if (bid.HasValue) message["bid"] = bid.Value;
            if (ask.HasValue) message["ask"] = ask.Value;
            if (last.HasValue) message["last"] = last.Value;
            Emit(message);
        }

        /// <summary>A component's state (a callback that failed: "degraded" with the error; back: "ok").</summary>
        public void ReportHealth(string component, string status, string detail)
        {
            var message = Envelope("health");
            message["components"] = new Dictionary<string, object>
            {
                { Truncate(component, 48), new Dictionary<string, object> { { "status", status }, { "detail", Truncate(detail ?? "", 500) } } },
            };
            Emit(message);
        }

        void Emit(Dictionary<string, object> message)
        {
            var send = Send;
            if (send != null) send(Json.Write(message));
        }

        /// <summary>A key the hub's schema accepts (letters, digits, _ . : -; at most 128).</summary>
        public static string SafeKey(string text)
        {
            var safe = new StringBuilder();
            foreach (char c in text ?? "")
                safe.Append(char.IsLetterOrDigit(c) && c < 128 || c == '_' || c == '.' || c == ':' || c == '-' ? c : '-');
            if (safe.Length == 0) safe.Append("nt");
            return Truncate(safe.ToString(), 128);
        }

        static string Truncate(string s, int length) { return s.Length <= length ? s : s.Substring(0, length); }
    }
}
