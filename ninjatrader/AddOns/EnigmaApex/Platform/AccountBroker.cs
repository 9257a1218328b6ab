// Enigma-Apex AddOn: the hub's orders on NinjaTrader's Account API, and the accounts' events back to the hub.
// Every event handler and timer callback catches its exceptions (inside NinjaTrader an exception escaping a
// thread-pool thread ends the process), logs them and reports them to the hub as the component's health.
// Collections are read under their own lock, as the NinjaTrader 8 Help Guide's examples do (all, orders_account,
// positions_account).
#region Using declarations
using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using EnigmaApex.Protocol;
using NinjaTrader.Cbi;
#endregion

namespace EnigmaApex.Platform
{
    public sealed class AccountBroker : IBroker, IDisposable
    {
        readonly HashSet<string> wanted;
        readonly string atmTemplate;
        readonly Action<string> log;
        readonly object gate = new object();
        readonly Dictionary<string, BracketPlan> brackets = new Dictionary<string, BracketPlan>();  // by order ref
        readonly Dictionary<Order, string> atmEntries = new Dictionary<Order, string>();           // "Entry" -> ref
        readonly HashSet<Account> subscribed = new HashSet<Account>();
        readonly HashSet<Instrument> watched = new HashSet<Instrument>();
        readonly Dictionary<string, DateTime> faultsSeen = new Dictionary<string, DateTime>();
        Timer timer;
        int legBatch;
        public ExecutorSession Session;
        public HubConnection Connection;

        sealed class BracketPlan
        {
            public decimal? Stop, Target;
            public int Given;
            public int? Final;  // the entry's filled quantity once it is terminal
        }

        public AccountBroker(ClientSettings settings, Action<string> log)
        {
            wanted = settings.AccountSet();
            atmTemplate = settings.AtmTemplate ?? "";
            this.log = log ?? (_ => { });
        }

        bool Wanted(Account a) { return a != null && (wanted.Count == 0 || wanted.Contains(a.Name)); }

        List<Account> Selected()
        {
            lock (Account.All) return Account.All.Where(Wanted).ToList();
        }

        Account Find(string name)
        {
            lock (Account.All) return Account.All.FirstOrDefault(a => a.Name == name && Wanted(a));
        }

        // ------------------------------------------------------------------ lifecycle
        public void Start()
        {
            Account.AccountStatusUpdate += OnAccountStatus;
            foreach (var account in Selected())
                if (account.ConnectionStatus == ConnectionStatus.Connected) Subscribe(account);
            // account.update (balance, open P&L) and prices at 4 Hz: they move with every tick of an open position
            timer = new Timer(_ => Guard("balance-timer", Tick), null, 250, 250);
        }

        public void Dispose()
        {
            var t = timer;
            if (t != null) t.Dispose();
            Account.AccountStatusUpdate -= OnAccountStatus;
            List<Account> all;
            lock (gate) all = subscribed.ToList();
            foreach (var account in all) Unsubscribe(account);
            List<Instrument> instruments;
            lock (gate) { instruments = watched.ToList(); watched.Clear(); }
            foreach (var i in instruments)
            {
                var instrument = i;
                if (!instrument.Dispatcher.HasShutdownStarted)
                    instrument.Dispatcher.InvokeAsync(() => Guard("market-data", () => instrument.MarketData.Update -= OnMarketData));
            }
        }

        void Subscribe(Account account)
        {
            lock (gate)
                if (!subscribed.Add(account)) return;
            account.OrderUpdate += OnOrderUpdate;
            account.ExecutionUpdate += OnExecutionUpdate;
            account.PositionUpdate += OnPositionUpdate;
            log("subscribed to " + account.Name);
        }

        void Unsubscribe(Account account)
        {
            lock (gate)
                if (!subscribed.Remove(account)) return;
            account.OrderUpdate -= OnOrderUpdate;
            account.ExecutionUpdate -= OnExecutionUpdate;
            account.PositionUpdate -= OnPositionUpdate;
            log("unsubscribed from " + account.Name);
        }

        /// <summary>Runs a callback; an exception is logged and reported (health), never thrown.</summary>
        void Guard(string where, Action action)
        {
            try { action(); }
            catch (Exception ex)
            {
                bool report;
                lock (gate)
                {
                    DateTime last;
                    report = !faultsSeen.TryGetValue(where, out last) || (DateTime.UtcNow - last).TotalSeconds >= 10;
                    if (report) faultsSeen[where] = DateTime.UtcNow;
                }
                if (!report) return;
                log("error in " + where + ": " + ex.GetType().Name + ": " + ex.Message);
                try
                {
                    var session = Session;
                    if (session != null) session.ReportHealth("ninjatrader." + where, "degraded", ex.GetType().Name + ": " + ex.Message);
                }
                catch (Exception) { }
            }
        }

        public static string ConnectionText(ConnectionStatus status)
        {
            switch (status)
            {
                case ConnectionStatus.Connected: return "connected";
                case ConnectionStatus.Connecting: return "connecting";
                case ConnectionStatus.ConnectionLost: return "connection_lost";
                case ConnectionStatus.Disconnecting: return "disconnecting";
                default: return "disconnected";
            }
        }

        void OnAccountStatus(object sender, AccountStatusEventArgs e)
        {
            Guard("account-status", () =>
            {
                var account = e.Account;
                if (!Wanted(account)) return;
                if (e.Status == ConnectionStatus.Connected) Subscribe(account);
                else if (e.Status == ConnectionStatus.Disconnected) Unsubscribe(account);
                var session = Session;
                if (session == null || !session.OwnedAccounts.Contains(account.Name)) return;
                session.ReportAccountStatus(account.Name, ConnectionText(e.Status), e.Message);
                if (e.Status == ConnectionStatus.Connected)
                {
                    foreach (var p in Positions(account.Name)) session.ReportPosition(p);
                    var balance = Balance(account.Name);
                    if (balance != null) session.ReportAccount(balance);
                }
            });
        }

        // ------------------------------------------------------------------ IBroker (called by the session)
        public IList<string> Accounts() { return Selected().Select(a => a.Name).ToList(); }

        public string ConnectionOf(string name)
        {
            var account = Find(name);
            return account == null ? "disconnected" : ConnectionText(account.ConnectionStatus);
        }

        static int Held(Account account, Instrument instrument)
        {
            lock (account.Positions)
            {
                var p = account.Positions.FirstOrDefault(x => x.Instrument == instrument);
                if (p == null) return 0;
                return p.MarketPosition == MarketPosition.Long ? p.Quantity : p.MarketPosition == MarketPosition.Short ? -p.Quantity : 0;
            }
        }

        static bool Working(OrderState state) { return !Order.IsTerminalState(state) && state != OrderState.Initialized; }

        public BrokerResult Place(OrderCommand o)
        {
            var account = Find(o.Account);
            if (account == null) return BrokerResult.No("account " + o.Account + " is not in NinjaTrader (or not selected in the AddOn)");
            if (account.ConnectionStatus != ConnectionStatus.Connected)
                return BrokerResult.No("NinjaTrader's connection for " + o.Account + " is " + ConnectionText(account.ConnectionStatus));
            if (!o.Reduces && Session != null && !Session.AcceptingEntries) return BrokerResult.No("the hub connection is down");
            lock (account.Orders)
                if (account.Orders.Any(x => x.Name == o.Ref)) return new BrokerResult(true, "already placed");  // a resend after a restart
            lock (gate)
                if (atmEntries.ContainsValue(o.Ref)) return new BrokerResult(true, "already placed");
            var instrument = Instrument.GetInstrument(o.Symbol);
            if (instrument == null) return BrokerResult.No("NinjaTrader does not know the instrument " + o.Symbol);
            int quantity = o.Quantity;
            string note = "";
            if (o.Reduces)
            {
                // an exit or flatten only ever closes: never more than the position, never the other side
                int held = Held(account, instrument);
                if (held == 0 || (held > 0) == o.Buy)
                    return BrokerResult.No("nothing to close: " + o.Account + " holds " + held + " " + o.Symbol);
                if (quantity > Math.Abs(held))
                {
                    note = "capped at the position: " + Math.Abs(held);
                    quantity = Math.Abs(held);
                }
            }
            var action = o.Buy ? (o.Reduces ? OrderAction.BuyToCover : OrderAction.Buy) : (o.Reduces ? OrderAction.Sell : OrderAction.SellShort);
            OrderType type;
            switch (o.OrderType)
            {
                case "market": type = OrderType.Market; break;
                case "limit": type = OrderType.Limit; break;
                case "stop": type = OrderType.StopMarket; break;
                case "stop_limit": type = OrderType.StopLimit; break;
                default: return BrokerResult.No("unknown order_type " + o.OrderType);
            }
            var tif = o.Tif == "gtc" ? TimeInForce.Gtc : TimeInForce.Day;
            bool hasBracket = !o.Reduces && (o.BracketStop.HasValue || o.BracketTarget.HasValue);
            bool atm = hasBracket && atmTemplate.Length > 0;
            var order = account.CreateOrder(instrument, action, type, OrderEntry.Automated, tif, quantity,
                                            (double)(o.LimitPrice ?? 0), (double)(o.StopPrice ?? 0), "", atm ? "Entry" : o.Ref,
                                            NinjaTrader.Core.Globals.MaxDate, null);
            if (order == null) return BrokerResult.No("NinjaTrader refused to create the order");
            if (atm)
            {
                lock (gate) atmEntries[order] = o.Ref;  // the ATM entry must be named "Entry" (HG createorder)
                NinjaTrader.NinjaScript.AtmStrategy.StartAtmStrategy(atmTemplate, order);
                return new BrokerResult(true, "ATM template " + atmTemplate);
            }
            if (hasBracket)
                lock (gate) brackets[o.Ref] = new BracketPlan { Stop = o.BracketStop, Target = o.BracketTarget };
            account.Submit(new[] { order });
            return new BrokerResult(true, note);
        }

        public BrokerResult Cancel(string accountName, string orderKey, string orderRef)
        {
            var account = Find(accountName);
            if (account == null) return BrokerResult.No("account " + accountName + " is not in NinjaTrader");
            List<Order> orders;
            lock (account.Orders)
                orders = account.Orders.Where(x => (x.Name == orderRef || RefOf(x) == orderRef) && Working(x.OrderState)).ToList();
            if (orders.Count == 0) return BrokerResult.No("no working order " + orderKey);
            account.Cancel(orders);
            return BrokerResult.Ok();
        }

        public BrokerResult Flatten(string accountName, bool cancelWorking)
        {
            var account = Find(accountName);
            if (account == null) return BrokerResult.No("account " + accountName + " is not in NinjaTrader");
            List<Instrument> instruments;
            lock (account.Positions)
                instruments = account.Positions.Where(p => p.MarketPosition != MarketPosition.Flat).Select(p => p.Instrument).ToList();
            if (cancelWorking)
            {
                List<Order> working;
                lock (account.Orders) working = account.Orders.Where(x => Working(x.OrderState) && !instruments.Contains(x.Instrument)).ToList();
                if (working.Count > 0) account.Cancel(working);
            }
            if (instruments.Count > 0) account.Flatten(instruments);  // cancels those instruments' orders, then closes
            return BrokerResult.Ok();
        }

        public IList<PositionReport> Positions(string accountName)
        {
            var account = Find(accountName);
            if (account == null) return new List<PositionReport>();
            lock (account.Positions)
                return account.Positions.Where(p => p.MarketPosition != MarketPosition.Flat).Select(p => Report(accountName, p)).ToList();
        }

        public AccountReport Balance(string accountName)
        {
            var account = Find(accountName);
            if (account == null) return null;
            return new AccountReport
            {
                Account = accountName,
                Balance = (decimal)account.Get(AccountItem.CashValue, Currency.UsDollar),
                Realized = (decimal)account.Get(AccountItem.RealizedProfitLoss, Currency.UsDollar),
                Open = (decimal)account.Get(AccountItem.UnrealizedProfitLoss, Currency.UsDollar),
            };
        }

        static PositionReport Report(string account, Position p)
        {
            int signed = p.MarketPosition == MarketPosition.Short ? -p.Quantity : p.MarketPosition == MarketPosition.Long ? p.Quantity : 0;
            return new PositionReport { Account = account, Symbol = p.Instrument.FullName, Quantity = signed, AveragePrice = (decimal)p.AveragePrice };
        }

        static string Status(OrderState state)
        {
            switch (state)
            {
                case OrderState.Filled: return "filled";
                case OrderState.PartFilled: return "partially_filled";
                case OrderState.Cancelled: return "cancelled";
                case OrderState.Rejected: return "rejected";
                case OrderState.Initialized:
                case OrderState.Submitted:
                case OrderState.Accepted:
                case OrderState.AcceptedByRisk: return "accepted";
                default: return "working";
            }
        }

        /// <summary>The reference an order is known by: its name, or the reference of the ATM entry named "Entry".</summary>
        string RefOf(Order order)
        {
            string reference;
            lock (gate)
                if (atmEntries.TryGetValue(order, out reference)) return reference;
            return order.Name;
        }

        // ------------------------------------------------------------------ NinjaTrader events -> hub
        void OnOrderUpdate(object sender, OrderEventArgs e)
        {
            Guard("order-update", () =>
            {
                var session = Session;
                if (session == null || e.Order == null) return;
                string name = RefOf(e.Order);
                if (OrderRefs.Of(name) == null) return;  // not an order of the hub's
                session.ReportOrder(name, e.Order.Account.Name, Status(e.OrderState), e.Filled, (decimal)e.AverageFillPrice,
                                    e.Order.OrderId, e.Error == ErrorCode.NoError ? "" : e.Comment);
                if (Order.IsTerminalState(e.OrderState))
                    lock (gate)
                    {
                        // NinjaTrader does not order OrderUpdate and ExecutionUpdate: the plan goes once every fill
                        // of the terminal entry has given its legs
                        BracketPlan plan;
                        if (brackets.TryGetValue(name, out plan))
                        {
                            plan.Final = e.Filled;
                            if (plan.Given >= e.Filled) brackets.Remove(name);
                        }
                        atmEntries.Remove(e.Order);
                    }
            });
        }

        void OnExecutionUpdate(object sender, ExecutionEventArgs e)
        {
            Guard("execution-update", () =>
            {
                var x = e.Execution;
                var session = Session;
                if (session == null || x == null) return;
                // an execution without an Order (placed outside NinjaTrader's order objects) is reported all the same
                string key = x.Order != null && OrderRefs.Of(RefOf(x.Order)) != null ? RefOf(x.Order)
                           : "nt:" + (x.Order != null ? x.Order.OrderId : x.ExecutionId);
                bool buy = x.MarketPosition == MarketPosition.Long;
                session.ReportFill("nt:" + x.ExecutionId, key, x.Account.Name, x.Instrument.FullName, buy ? "buy" : "sell",
                                   x.Quantity, (decimal)x.Price, (decimal)x.Commission,
                                   new DateTimeOffset(DateTime.SpecifyKind(x.Time, DateTimeKind.Utc)));
                if (x.Order != null) ProtectFill(x.Order, x.Quantity);
            });
        }

        /// <summary>An entry with a bracket: each fill's quantity goes to a stop and a target (one OCO group).</summary>
        void ProtectFill(Order entry, int add)
        {
            BracketPlan plan;
            string reference = entry.Name;
            int batch;
            lock (gate)
            {
                if (!brackets.TryGetValue(reference, out plan)) return;
                plan.Given += add;
                batch = ++legBatch;
                if (plan.Final.HasValue && plan.Given >= plan.Final.Value) brackets.Remove(reference);
            }
            var account = entry.Account;
            var exit = entry.IsLong ? OrderAction.Sell : OrderAction.BuyToCover;
            string oco = reference + ":oco:" + batch;
            var legs = new List<Order>();
            if (plan.Stop.HasValue)
                legs.Add(account.CreateOrder(entry.Instrument, exit, OrderType.StopMarket, OrderEntry.Automated, TimeInForce.Gtc, add,
                                             0, (double)plan.Stop.Value, oco, reference + ":stop", NinjaTrader.Core.Globals.MaxDate, null));
            if (plan.Target.HasValue)
                legs.Add(account.CreateOrder(entry.Instrument, exit, OrderType.Limit, OrderEntry.Automated, TimeInForce.Gtc, add,
                                             (double)plan.Target.Value, 0, oco, reference + ":target", NinjaTrader.Core.Globals.MaxDate, null));
            if (legs.Count > 0) account.Submit(legs);
        }

        void OnPositionUpdate(object sender, PositionEventArgs e)
        {
            Guard("position-update", () =>
            {
                var session = Session;
                if (session == null || e.Position == null) return;
                var p = e.Position;
                int signed = e.Operation == Operation.Remove || e.MarketPosition == MarketPosition.Flat ? 0
                           : e.MarketPosition == MarketPosition.Long ? e.Quantity : -e.Quantity;
                session.ReportPosition(new PositionReport
                {
                    Account = p.Account.Name, Symbol = p.Instrument.FullName, Quantity = signed,
                    AveragePrice = signed == 0 ? (decimal?)null : (decimal)e.AveragePrice,
                });
                FitLegs(p.Account, p.Instrument, signed);
            });
        }

        /// <summary>The hub's protective legs never cover more than the position, nor the wrong side: per kind
        /// (stop, target), the newest give way first; flat, every leg is cancelled.</summary>
        void FitLegs(Account account, Instrument instrument, int held)
        {
            List<Order> legs;
            lock (account.Orders)
                legs = account.Orders.Where(o => o.Instrument == instrument && Working(o.OrderState) && OrderRefs.Of(o.Name) != null
                                                 && (o.Name.EndsWith(":stop", StringComparison.Ordinal) || o.Name.EndsWith(":target", StringComparison.Ordinal)))
                                     .ToList();
            if (legs.Count == 0) return;
            var cancel = new List<Order>();
            var change = new List<Order>();
            foreach (var kind in new[] { ":stop", ":target" })
            {
                int room = Math.Abs(held);
                foreach (var leg in legs.Where(o => o.Name.EndsWith(kind, StringComparison.Ordinal)).OrderBy(o => o.Id))
                {
                    bool closesHeld = held != 0 && (held > 0) != leg.IsLong;
                    int left = leg.Quantity - leg.Filled;
                    if (!closesHeld || room == 0) cancel.Add(leg);
                    else if (left > room)
                    {
                        leg.QuantityChanged = leg.Filled + room;
                        change.Add(leg);
                        room = 0;
                    }
                    else room -= left;
                }
            }
            if (cancel.Count > 0) account.Cancel(cancel);
            if (change.Count > 0) account.Change(change);
        }

        void OnMarketData(object sender, MarketDataEventArgs e) { }  // the snapshot is read on the timer

        void Tick()
        {
            var session = Session;
            if (session == null || !session.AcceptingEntries) return;
            var prices = new HashSet<Instrument>();
            foreach (var name in session.OwnedAccounts)
            {
                var account = Find(name);
                if (account == null || account.ConnectionStatus != ConnectionStatus.Connected) continue;
                var state = Balance(name);
                if (state != null) session.ReportAccount(state);
                lock (account.Positions)
                    foreach (var p in account.Positions) prices.Add(p.Instrument);
                lock (account.Orders)
                    foreach (var o in account.Orders) if (Working(o.OrderState)) prices.Add(o.Instrument);
            }
            foreach (var instrument in prices)
            {
                Watch(instrument);
                var md = instrument.MarketData;
                if (md == null || md.Last == null) continue;
                session.ReportMarketData(instrument.FullName, md.Bid != null ? (decimal?)md.Bid.Price : null,
                                         md.Ask != null ? (decimal?)md.Ask.Price : null, (decimal)md.Last.Price);
            }
        }

        /// <summary>Subscribe to the instrument's market data (HG marketdata: on the instrument's dispatcher).</summary>
        void Watch(Instrument instrument)
        {
            lock (gate)
                if (!watched.Add(instrument)) return;
            if (!instrument.Dispatcher.HasShutdownStarted)
                instrument.Dispatcher.InvokeAsync(() => Guard("market-data", () => instrument.MarketData.Update += OnMarketData));
        }
    }
}
