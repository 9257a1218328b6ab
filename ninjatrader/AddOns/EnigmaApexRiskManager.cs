// Enigma-Apex AddOn for NinjaTrader 8: connects NinjaTrader's accounts to the Enigma-Apex hub (ws://host:8765).
// It streams every selected account's balance, realised/unrealised P&L, positions, order states and fills; it
// executes the hub's order.place (bracket or ATM template), order.cancel and flatten through the Account API;
// duplicate idempotency keys are dropped (also after a restart: order names carry the key); while the hub is
// away it places nothing new and, when FlattenAfterDisconnectSeconds > 0, flattens after that long.
// Install: docs/ninjatrader.md. Protocol: docs/protocol.md.
#region Using declarations
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Threading;
using EnigmaApex.Protocol;
using NinjaTrader.Cbi;
#endregion

namespace NinjaTrader.NinjaScript.AddOns
{
    public class EnigmaApexRiskManager : AddOnBase
    {
        HubConnection connection;
        AccountBroker broker;

        public string HubUrl { get; set; }
        public string Token { get; set; }
        /// <summary>Comma-separated account names to trade; empty = every account the hub gives this token.</summary>
        public string AccountNames { get; set; }
        public string AtmTemplate { get; set; }
        public double FlattenAfterDisconnectSeconds { get; set; }

        protected override void OnStateChange()
        {
            if (State == State.SetDefaults)
            {
                Name = "EnigmaApexRiskManager";
                Description = "Connects NinjaTrader accounts to the Enigma-Apex risk and compliance hub.";
                HubUrl = "ws://127.0.0.1:8765";
                Token = Environment.GetEnvironmentVariable("ENIGMA_APEX_TOKEN") ?? "";
                AccountNames = "";
                AtmTemplate = "";
                FlattenAfterDisconnectSeconds = 0;
            }
            else if (State == State.Active)
            {
                if (string.IsNullOrEmpty(Token))
                {
                    Print("Enigma-Apex: no token (set ENIGMA_APEX_TOKEN or the Token property); not connecting");
                    return;
                }
                broker = new AccountBroker(AccountNames, AtmTemplate);
                var session = new ExecutorSession(broker);
                broker.Session = session;
                connection = new HubConnection(HubUrl, Token, "NinjaTrader AddOn", session)
                {
                    FlattenAfterDisconnectSeconds = FlattenAfterDisconnectSeconds,
                    Status = text => Print("Enigma-Apex: " + text),
                };
                connection.FlattenAll = () => { foreach (var name in broker.Accounts()) broker.Flatten(name, true); };
                broker.Attach();
                connection.Start();
            }
            else if (State == State.Terminated)
            {
                if (connection != null) connection.Dispose();
                if (broker != null) broker.Detach();
                connection = null;
                broker = null;
            }
        }
    }

    /// <summary>The hub's orders on NinjaTrader's Account API, and the accounts' events back to the hub.</summary>
    public sealed class AccountBroker : IBroker
    {
        readonly HashSet<string> wanted;
        readonly string atmTemplate;
        readonly Dictionary<string, BracketPlan> brackets = new Dictionary<string, BracketPlan>();
        readonly object gate = new object();
        Timer balances;
        public ExecutorSession Session;

        sealed class BracketPlan
        {
            public decimal? Stop, Target;
            public int Given;
        }

        public AccountBroker(string accountNames, string atmTemplate)
        {
            wanted = new HashSet<string>((accountNames ?? "").Split(new[] { ',' }, StringSplitOptions.RemoveEmptyEntries)
                                         .Select(a => a.Trim()));
            this.atmTemplate = atmTemplate ?? "";
        }

        IEnumerable<Account> Selected()
        {
            return Account.All.Where(a => wanted.Count == 0 || wanted.Contains(a.Name));
        }

        Account Find(string name) { return Selected().FirstOrDefault(a => a.Name == name); }

        public void Attach()
        {
            foreach (var account in Selected())
            {
                account.OrderUpdate += OnOrderUpdate;
                account.ExecutionUpdate += OnExecutionUpdate;
                account.PositionUpdate += OnPositionUpdate;
            }
            // account.update at 4 Hz: balance and P&L move with every tick of an open position
            balances = new Timer(_ => ReportBalances(), null, 250, 250);
        }

        public void Detach()
        {
            if (balances != null) balances.Dispose();
            foreach (var account in Selected())
            {
                account.OrderUpdate -= OnOrderUpdate;
                account.ExecutionUpdate -= OnExecutionUpdate;
                account.PositionUpdate -= OnPositionUpdate;
            }
        }

        public IList<string> Accounts() { return Selected().Select(a => a.Name).ToList(); }

        public BrokerResult Place(OrderCommand o)
        {
            var account = Find(o.Account);
            if (account == null) return BrokerResult.No("account " + o.Account + " is not connected in NinjaTrader");
            if (Session != null && !Session.AcceptingEntries) return BrokerResult.No("the hub connection is down");
            if (account.Orders.Any(x => x.Name == o.Key))
                return new BrokerResult(true, "already placed");  // a resend after a restart: the name carries the key
            var instrument = Instrument.GetInstrument(o.Symbol);
            if (instrument == null) return BrokerResult.No("NinjaTrader does not know the instrument " + o.Symbol);
            var action = o.Side == "buy" ? OrderAction.Buy : OrderAction.Sell;
            var type = o.OrderType == "limit" ? OrderType.Limit
                     : o.OrderType == "stop" ? OrderType.StopMarket
                     : o.OrderType == "stop_limit" ? OrderType.StopLimit : OrderType.Market;
            var tif = o.Tif == "gtc" ? TimeInForce.Gtc : TimeInForce.Day;
            var order = account.CreateOrder(instrument, action, type, OrderEntry.Automated, tif, o.Quantity,
                                            (double)(o.LimitPrice ?? 0), (double)(o.StopPrice ?? 0), "", o.Key,
                                            Core.Globals.MaxDate, null);
            if (order == null) return BrokerResult.No("NinjaTrader refused to create the order");
            bool hasBracket = o.BracketStop.HasValue || o.BracketTarget.HasValue;
            if (hasBracket && atmTemplate.Length > 0)
            {
                AtmStrategy.StartAtmStrategy(atmTemplate, order);  // the ATM template manages stop and target
                return BrokerResult.Ok();
            }
            if (hasBracket)
                lock (gate) brackets[o.Key] = new BracketPlan { Stop = o.BracketStop, Target = o.BracketTarget };
            account.Submit(new[] { order });
            return BrokerResult.Ok();
        }

        public BrokerResult Cancel(string accountName, string orderKey)
        {
            var account = Find(accountName);
            if (account == null) return BrokerResult.No("account " + accountName + " is not connected in NinjaTrader");
            var orders = account.Orders.Where(x => x.Name == orderKey && IsWorking(x.OrderState)).ToList();
            if (orders.Count == 0) return BrokerResult.No("no working order " + orderKey);
            account.Cancel(orders);
            return BrokerResult.Ok();
        }

        public BrokerResult Flatten(string accountName, bool cancelWorking)
        {
            var account = Find(accountName);
            if (account == null) return BrokerResult.No("account " + accountName + " is not connected in NinjaTrader");
            var instruments = account.Positions.Where(p => p.MarketPosition != MarketPosition.Flat)
                                     .Select(p => p.Instrument).ToList();
            if (cancelWorking)
            {
                var working = account.Orders.Where(x => IsWorking(x.OrderState) && !instruments.Contains(x.Instrument)).ToList();
                if (working.Count > 0) account.Cancel(working);
            }
            if (instruments.Count > 0) account.Flatten(instruments);  // cancels those instruments' orders, then closes
            return BrokerResult.Ok();
        }

        public IList<PositionReport> Positions(string accountName)
        {
            var account = Find(accountName);
            if (account == null) return new List<PositionReport>();
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

        static bool IsWorking(OrderState state)
        {
            return state == OrderState.Working || state == OrderState.Accepted || state == OrderState.TriggerPending
                || state == OrderState.Submitted || state == OrderState.PartFilled || state == OrderState.ChangePending
                || state == OrderState.ChangeSubmitted || state == OrderState.Initialized;
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
                case OrderState.Accepted: return "accepted";
                default: return "working";
            }
        }

        void OnOrderUpdate(object sender, OrderEventArgs e)
        {
            if (Session == null || e.Order == null || string.IsNullOrEmpty(e.Order.Name)) return;
            Session.ReportOrder(e.Order.Name, e.Order.Account.Name, Status(e.OrderState), e.Filled,
                                (decimal)e.AverageFillPrice, e.Order.OrderId, e.Error == ErrorCode.NoError ? "" : e.Comment);
        }

        void OnExecutionUpdate(object sender, ExecutionEventArgs e)
        {
            var x = e.Execution;
            if (Session == null || x == null || x.Order == null) return;
            string key = string.IsNullOrEmpty(x.Order.Name) ? "nt:" + x.Order.OrderId : x.Order.Name;
            bool buy = x.Order.OrderAction == OrderAction.Buy || x.Order.OrderAction == OrderAction.BuyToCover;
            Session.ReportFill("nt:" + x.ExecutionId, key, x.Account.Name, x.Instrument.FullName, buy ? "buy" : "sell",
                               x.Quantity, (decimal)x.Price, (decimal)x.Commission, new DateTimeOffset(x.Time.ToUniversalTime(), TimeSpan.Zero));
            ProtectFill(x.Order);
        }

        /// <summary>An entry with a bracket: its filled quantity goes to a stop and a target (one OCO group).</summary>
        void ProtectFill(Order entry)
        {
            BracketPlan plan;
            int add;
            lock (gate)
            {
                if (!brackets.TryGetValue(entry.Name, out plan)) return;
                add = entry.Filled - plan.Given;
                if (add <= 0) return;
                plan.Given = entry.Filled;
            }
            var account = entry.Account;
            var exit = entry.OrderAction == OrderAction.Buy ? OrderAction.Sell : OrderAction.Buy;
            string oco = entry.Name + ":oco:" + plan.Given;
            var legs = new List<Order>();
            if (plan.Stop.HasValue)
                legs.Add(account.CreateOrder(entry.Instrument, exit, OrderType.StopMarket, OrderEntry.Automated, TimeInForce.Gtc, add,
                                             0, (double)plan.Stop.Value, oco, entry.Name + ":stop", Core.Globals.MaxDate, null));
            if (plan.Target.HasValue)
                legs.Add(account.CreateOrder(entry.Instrument, exit, OrderType.Limit, OrderEntry.Automated, TimeInForce.Gtc, add,
                                             (double)plan.Target.Value, 0, oco, entry.Name + ":target", Core.Globals.MaxDate, null));
            if (legs.Count > 0) account.Submit(legs);
        }

        void OnPositionUpdate(object sender, PositionEventArgs e)
        {
            if (Session == null || e.Position == null) return;
            Session.ReportPosition(Report(e.Position.Account.Name, e.Position));
        }

        void ReportBalances()
        {
            var session = Session;
            if (session == null) return;
            foreach (var name in session.OwnedAccounts)
            {
                var state = Balance(name);
                if (state != null) session.ReportAccount(state);
            }
        }
    }
}
