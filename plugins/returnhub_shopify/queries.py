"""The Admin GraphQL documents the Shopify source sends (field names checked against the
Admin API reference for Return, Order, Customer, Fulfillment, ReturnLineItem,
ReverseFulfillmentOrder, ReverseDelivery and the returnApproveRequest/returnDeclineRequest
mutations).
"""

from __future__ import annotations

#: A return with what rules need: prices, reasons, product types, the customer's contact and
#: history, the delivery date (return window) and the return parcel's tracking.
RETURN_QUERY = """
query ReturnhubReturn($id: ID!) {
  return(id: $id) {
    id
    name
    status
    createdAt
    order {
      id
      name
      email
      phone
      createdAt
      totalPriceSet { shopMoney { amount currencyCode } }
      shippingAddress { countryCodeV2 }
      customer { id email phone firstName lastName locale tags numberOfOrders }
      fulfillments(first: 20) { createdAt deliveredAt }
    }
    returnLineItems(first: 100) {
      nodes {
        ... on ReturnLineItem {
          quantity
          returnReason
          returnReasonNote
          customerNote
          fulfillmentLineItem {
            lineItem {
              sku
              name
              product { productType }
              originalUnitPriceSet { shopMoney { amount currencyCode } }
            }
          }
        }
      }
    }
    reverseFulfillmentOrders(first: 10) {
      nodes {
        id
        reverseDeliveries(first: 10) {
          nodes {
            deliverable {
              ... on ReverseDeliveryShippingDeliverable {
                tracking { carrierName number url }
                label { publicFileUrl }
              }
            }
          }
        }
      }
    }
  }
}
"""

#: The return a reverse fulfillment order belongs to (dispose webhooks name only the RFO; the
#: RFO has no ``return`` field, so look through its order's returns).
RETURN_OF_RFO_QUERY = """
query ReturnhubReturnOfReverseFulfillmentOrder($id: ID!) {
  reverseFulfillmentOrder(id: $id) {
    id
    order {
      returns(first: 50) {
        nodes { id reverseFulfillmentOrders(first: 10) { nodes { id } } }
      }
    }
  }
}
"""

APPROVE_MUTATION = """
mutation ReturnhubApprove($input: ReturnApproveRequestInput!) {
  returnApproveRequest(input: $input) {
    return { id status }
    userErrors { field message code }
  }
}
"""

DECLINE_MUTATION = """
mutation ReturnhubDecline($input: ReturnDeclineRequestInput!) {
  returnDeclineRequest(input: $input) {
    return { id status }
    userErrors { field message code }
  }
}
"""

#: A page of orders changed after a time, oldest change first, with their returns' ids: the
#: store's return history, for a backfill (``returnhub_shopify.history``).
RETURN_HISTORY_QUERY = """
query ReturnhubReturnHistory($after: String, $query: String) {
  orders(first: 25, after: $after, sortKey: UPDATED_AT, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      updatedAt
      returns(first: 20) { nodes { id } }
    }
  }
}
"""
