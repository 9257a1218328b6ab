// Enigma-Apex protocol client: the executor side of the hub's WebSocket protocol (docs/protocol.md), with no
// NinjaTrader types. The AddOn and the Strategy give it an IBroker; HubConnection moves its frames.
using System;
using System.Collections.Generic;
using System.Globalization;

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
        public string Key, Account, Symbol, Side, OrderType, Tif;
        public int Quantity;
        public decimal? LimitPrice, StopPrice, BracketStop, BracketTarget;
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
        public decimal Balance, Realized, Open;
    }

    /// <summary>What the session needs from the platform: NinjaTrader's Account API, a strategy, or a test.</summary>
    public interface IBroker
    {
        IList<string> Accounts();
        BrokerResult Place(OrderCommand order);
        BrokerResult Cancel(string account, string orderKey);
        BrokerResult Flatten(string account, bool cancelWorking);
        IList<PositionReport> Positions(string account);
        AccountReport Balance(string account);
    }

    public sealed class ExecutorSession
    {
        readonly IBroker broker;
        readonly int keysKept;
        readonly LinkedList<string> keyOrder = new LinkedList<string>();
        readonly HashSet<string> keys = new HashSet<string>();
        readonly object gate = new object();

        public long? LastSeq { get; private set; }
        public int Duplicates { get; private set; }
        public bool AcceptingEntries { get; private set; }
        public IList<string> OwnedAccounts { get; private set; }
        public Action<string> Send;  // set by the transport: queues one text frame

        public ExecutorSession(IBroker broker, int keysKept = 100000)
        {
            this.broker = broker;
            this.keysKept = keysKept;
            OwnedAccounts = new List<string>();
        }

        public static Dictionary<string, object> Envelope(string type)
        {
            return new Dictionary<string, object>
            {
                { "v", 1 },
                { "type", type },
                { "id", Guid.NewGuid().ToString("N").Substring(0, 16) },
                { "ts", DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture) },
            };
        }

        public string Hello(string token, string client)
        {
            var hello = Envelope("hello");
            hello["token"] = token;
            hello["client"] = client;
            hello["client_version"] = "1.0";
            if (LastSeq.HasValue) hello["resume_seq"] = LastSeq.Value;
            return Json.Write(hello);
        }

        /// <summary>The hub's welcome: report every owned account's positions and balance (reconciliation).</summary>
        public void Welcomed(Dictionary<string, object> welcome)
        {
            var owned = new List<string>();
            var listed = welcome.ContainsKey("accounts") ? welcome["accounts"] as List<object> : null;
            var mine = new HashSet<string>(broker.Accounts());
            if (listed != null)
                foreach (var a in listed) if (mine.Contains((string)a)) owned.Add((string)a);
            OwnedAccounts = owned;
            AcceptingEntries = true;
            foreach (var account in owned)
            {
                foreach (var p in broker.Positions(account)) ReportPosition(p);
                var state = broker.Balance(account);
                if (state != null) ReportAccount(state);
            }
        }

        public void Disconnected() { AcceptingEntries = false; }

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
            if (!Remember(key))
            {
                Duplicates++;
                Ack(key, seq, "duplicate", "");
                return;
            }
            BrokerResult result;
            string account = Json.Str(message, "account");
            try
            {
                if (type == "order.place")
                {
                    var order = new OrderCommand
                    {
                        Key = key, Account = account, Symbol = Json.Str(message, "symbol"), Side = Json.Str(message, "side"),
                        OrderType = Json.Str(message, "order_type") ?? "market", Tif = Json.Str(message, "tif") ?? "day",
                        Quantity = (int)(Json.Dec(message, "quantity") ?? 0), LimitPrice = Json.Dec(message, "limit_price"),
                        StopPrice = Json.Dec(message, "stop_price"),
                    };
                    var bracket = message.ContainsKey("bracket") ? message["bracket"] as Dictionary<string, object> : null;
                    if (bracket != null)
                    {
                        order.BracketStop = Json.Dec(bracket, "stop");
                        order.BracketTarget = Json.Dec(bracket, "target");
                    }
                    result = broker.Place(order);
                }
                else if (type == "order.cancel")
                    result = broker.Cancel(account, Json.Str(message, "order_key"));
                else
                {
                    object cancel;
                    result = broker.Flatten(account, !message.TryGetValue("cancel_working", out cancel) || !(cancel is bool) || (bool)cancel);
                }
            }
            catch (Exception ex)
            {
                result = BrokerResult.No(ex.GetType().Name + ": " + ex.Message);
            }
            Ack(key, seq, result.Accepted ? "accepted" : "rejected", result.Reason);
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
            fill["fill_id"] = fillId;
            fill["key"] = key;
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
            update["key"] = key;
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
            message["open_pnl"] = state.Open;
            Emit(message);
        }

        public string Ping() { return Json.Write(Envelope("ping")); }

        void Emit(Dictionary<string, object> message)
        {
            var send = Send;
            if (send != null) send(Json.Write(message));
        }

        static string Truncate(string s, int length) { return s.Length <= length ? s : s.Substring(0, length); }
    }
}
